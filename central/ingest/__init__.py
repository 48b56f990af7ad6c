"""Ingest: uplink batches from the broker into the events table, exactly once, with acks and replays."""
