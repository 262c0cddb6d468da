"""The engineer / QA / manager console: server-rendered pages under ``/console``.

`bot.console.app.setup` mounts it on the bot's app; the page modules share
`bot.console.pages`.
"""
