"""A minimal nonebot2 bot on the OneBot V11 adapter (the one most plugins are written for),
used by test_nonebot_v11.py: answers ping with pong, @-mentions in groups with to_me, quotes of
its own messages, approves friend requests. Mode and ports come from the environment."""

import json
import os

import nonebot
from nonebot import on_message, on_request
from nonebot.adapters.onebot.v11 import Adapter, Bot, FriendRequestEvent, MessageEvent

mode = os.environ["NB_MODE"]
config = {
    "driver": "~fastapi+~httpx+~websockets",
    "host": "127.0.0.1",
    "port": int(os.environ["NB_PORT"]),
    "onebot_access_token": os.environ["NB_TOKEN"],
    "log_level": "INFO",
}
if mode == "http":
    config["onebot_api_roots"] = json.loads(os.environ["NB_API_ROOTS"])
    config["onebot_secret"] = os.environ["NB_SECRET"]

nonebot.init(**config)
nonebot.get_driver().register_adapter(Adapter)

replies = on_message(priority=5)


@replies.handle()
async def _(bot: Bot, event: MessageEvent):
    text = event.get_plaintext().strip()
    if event.reply is not None:
        await replies.finish(f"quoted:{event.reply.message_id}:{text}")
    if event.message_type == "group":
        if event.is_tome():
            await replies.finish(f"to_me:{text}")
        return
    if text == "ping":
        await replies.finish("pong")


requests = on_request()


@requests.handle()
async def _(bot: Bot, event: FriendRequestEvent):
    await event.approve(bot)


if __name__ == "__main__":
    nonebot.run()
