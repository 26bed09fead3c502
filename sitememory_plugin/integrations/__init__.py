"""Integrations with other frameworks, each behind an extra and imported only when used:
``sitememory_plugin.integrations.mcp`` (extra ``mcp``) serves the memory to LLM agents as
Model Context Protocol tools; ``sitememory_plugin.integrations.browser_use`` (extra
``browser-use``) records a browser-use agent's browser and gives its LLM the memory."""
