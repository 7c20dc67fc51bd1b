"""The ResourceManager: nodes, applications and the scheduler (pure), and its gRPC face."""
