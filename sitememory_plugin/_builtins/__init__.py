"""The built-in plugins: ordinary hook implementations, registered by name and each disable-able."""
