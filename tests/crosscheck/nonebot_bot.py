"""A minimal nonebot2 bot used by test_nonebot.py: echoes private messages, answers @-mentions
in groups and quotes of its own messages, reads files it is sent with get_file, welcomes
newcomers to a group, approves friend requests. Mode and ports come from the environment."""

import base64

import json
import os

import nonebot
from nonebot import on_message, on_notice, on_request
from nonebot.adapters.onebot.v12 import Adapter, Bot, GroupMemberIncreaseEvent, MessageEvent, RequestEvent

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
    if event.reply is not None:
        await replies.finish(f"reply_to:{event.reply.message_id}:{event.reply.user_id}:{text}")
    files = [s for s in event.message if s.type == "file"]
    if files:
        f = await bot.get_file(file_id=files[0].data["file_id"], type="data")
        data = f["data"]
        size = len(data) if isinstance(data, bytes) else len(base64.b64decode(data))
        await replies.finish(f"file:{f['name']}:{size}")
    if event.detail_type == "group":
        if event.is_tome():
            await replies.finish(f"to_me:{text}")
        return
    await replies.finish(f"echo:{text}")


welcome = on_notice()


@welcome.handle()
async def _(bot: Bot, event: GroupMemberIncreaseEvent):
    await bot.send_message(detail_type="group", group_id=event.group_id, message=f"welcome {event.user_id}")


requests = on_request()


@requests.handle()
async def _(bot: Bot, event: RequestEvent):
    data = event.model_dump() if hasattr(event, "model_dump") else event.dict()
    wx = data.get("wx", {})
    await bot.call_api("handle_friend_request", flag=data["flag"], ticket_v3=wx["ticket_v3"], scene=wx["scene"], approve=True)


if __name__ == "__main__":
    nonebot.run()
