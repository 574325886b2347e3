"""The box's OS image build (see docs/image.md). Its scripts run on their own
(`python3 image/debs.py ...`); the package exists so the image tests can import them."""
