"""Device drivers: one package per device family, each a sans-I/O codec plus a thin transport adapter.

Drivers know nothing of MQTT, databases or the gateway's config files.
"""
