"""Integrations with other frameworks, each behind an extra and imported only when used:
``sitememory_plugin.integrations.mcp`` (extra ``mcp``) serves the memory to LLM agents as
Model Context Protocol tools."""
