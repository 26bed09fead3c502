"""Integrations with other frameworks, each behind an extra and imported only when used.

- ``integrations.mcp`` (extra ``mcp``): the memory as Model Context Protocol tools.
- ``integrations.crawlee`` (extra ``crawlee``): Crawlee's ``PlaywrightCrawler``.
- ``integrations.scrapy`` (extra ``scrapy``): a Scrapy downloader middleware, with scrapy-playwright.
- ``integrations.browser_use`` (extra ``browser-use``): a browser-use agent's browser and its LLM.
"""
