"""Starts AstrBot headlessly in the folder given (its `data/cmd_config.json` written by the
test), without its dashboard: what `astrbot run` does, minus the prompt that offers to
download the dashboard (this machine is offline)."""

import asyncio
import os
import sys

root = os.path.realpath(sys.argv[1])
os.environ["ASTRBOT_ROOT"] = root
os.chdir(root)
sys.path.insert(0, root)

from astrbot.core import LogBroker, LogManager, db_helper, logger  # noqa: E402
from astrbot.core.initial_loader import InitialLoader  # noqa: E402


async def main():
    broker = LogBroker()
    LogManager.set_queue_handler(logger, broker)
    await InitialLoader(db_helper, broker).start()


asyncio.run(main())
