"""LiveStock: oversell-proof inventory for live-stream commerce."""
