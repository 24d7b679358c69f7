"""pytest plugin for agentphone-emulator (fixtures and YAML scenario collection arrive with the plugin issue)."""
