"""The gatehouse console: a static page for guards, served at /console/, that talks to the REST API."""
