"""A minimal nonebot2 bot used by test_nonebot.py: echoes private messages, answers @-mentions
in groups, approves friend requests. Mode and ports come from the environment."""

import json
import os

import nonebot
from nonebot import on_message, on_request
from nonebot.adapters.onebot.v12 import Adapter, Bot, MessageEvent, RequestEvent

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
if mode == "ws":
    config["onebot_ws_urls"] = json.loads(os.environ["NB_WS_URLS"])

nonebot.init(**config)
nonebot.get_driver().register_adapter(Adapter)

replies = on_message(priority=5)


@replies.handle()
async def _(bot: Bot, event: MessageEvent):
    text = event.get_plaintext().strip()
    if event.detail_type == "group":
        if event.is_tome():
            await replies.finish(f"to_me:{text}")
        return
    await replies.finish(f"echo:{text}")


requests = on_request()


@requests.handle()
async def _(bot: Bot, event: RequestEvent):
    data = event.model_dump() if hasattr(event, "model_dump") else event.dict()
    wx = data.get("wx", {})
    await bot.call_api("handle_friend_request", flag=data["flag"], ticket_v3=wx["ticket_v3"], scene=wx["scene"], approve=True)


if __name__ == "__main__":
    nonebot.run()
