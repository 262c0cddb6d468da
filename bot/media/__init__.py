"""Media: images, files and voice messages, stored by content hash.

- `config` — where files go and what is accepted (``AFTERSALES_MEDIA_*``);
- `store` — the content-hash file store and the type sniffing;
- `fetcher` — downloads the pending attachments of WeChat / WeCom kf / bridge
  lines in the background, with retries (intake never waits for media);
- `outbound` — an engineer's image or file: stored, put in the transcript,
  handed to the channel (the web chat shows it; WeChat gets media upload +
  custom send);
- `routes` — ``/chat/api/uploads`` and the files' download endpoints.

`setup(app)` (in `routes`) mounts it all; `bot.app` lists it with the channels.
"""
