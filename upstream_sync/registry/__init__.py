"""A reference national registry that speaks the sync protocol, for the demo and the tests.

`app` (the HTTP app: `sync_api` for boxes, `admin_api` for its operator), `db` (schema,
write lock, read connections), `enrollment`, `accept` (push), `leases` (and pull), `users`,
`records` (search, the national journal), `settings`, `errors`, `cli`."""
