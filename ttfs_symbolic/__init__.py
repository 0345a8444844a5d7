"""ttfs-symbolic: formulas to TTFS spiking neurons, timm Transformers to TTFS SNNs."""
