"""EstateLink: shared entry point and the wire contract between gateways and central."""
