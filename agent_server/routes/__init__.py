"""HTTP and websocket routes, one module per area, each with `setup(app)`."""
