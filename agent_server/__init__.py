"""The aiohttp server that puts a business's AI agent on the phone, SMS and the web."""
