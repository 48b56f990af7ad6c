"""Access control at central: doors, door groups, schedules and cards; the versioned change log the gateways'
credential caches are synced from (deltas and snapshots over MQTT); the access log, alarms, remote door opens
and signed visitor passes.

Service functions (no HTTP) take an `AsyncConnection` inside the caller's transaction; every change is audited
and appended to the estate's change log in that transaction, and `sync.AccessSync` publishes it after commit.
"""
