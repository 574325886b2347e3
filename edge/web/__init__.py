"""The office web UI: server-rendered pages for staff browsers on the LAN."""
