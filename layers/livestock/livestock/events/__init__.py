"""Domain events: what happens to stock, published on the LiveStock EventBridge bus."""
