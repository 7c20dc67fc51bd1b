"""YARN: the ResourceManager, NodeManagers, containers, and the clients that use them."""
