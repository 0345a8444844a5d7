"""Model families: each module builds the spiking counterpart of one kind of source model and registers it."""
