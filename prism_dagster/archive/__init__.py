"""The archive core: record schema, object layout, encoding, manifests, the hour writer."""
