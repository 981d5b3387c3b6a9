"""A foreign MCP client for `team mcp`: the Python SDK (PyPI `mcp`) over stdio.

Run by tests/mcp/foreign.rs as `python3 python_client.py TEAM_BIN` in a project whose agent
`echo` echoes its prompt. It initializes, lists the tools, starts `echo` in the background with
the `task` tool and waits (at most 60 s) for the `[AGENT COMPLETED] echo: …` logging message.
Prints `ok: NOTICE` and exits 0, or says what failed and exits 1.
"""

import asyncio
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(team_bin: str) -> int:
    notices: list[str] = []
    completed = asyncio.Event()

    async def on_log(params) -> None:
        text = params.data if isinstance(params.data, str) else str(params.data)
        notices.append(text)
        if text.startswith("[AGENT COMPLETED] echo"):
            completed.set()

    server = StdioServerParameters(
        command=team_bin, args=["mcp"], env=dict(os.environ), cwd=os.getcwd()
    )
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write, logging_callback=on_log) as session:
            init = await session.initialize()
            # `mcp` 2 names fields in snake_case, 1.x as on the wire.
            info = getattr(init, "server_info", None) or getattr(init, "serverInfo")
            if info.name != "team":
                print(f"unexpected server {info}")
                return 1
            tools = await session.list_tools()
            names = [t.name for t in tools.tools]
            if "task" not in names or "wait_for_messages" not in names:
                print(f"tools/list lacks the team tools: {names}")
                return 1
            started = await session.call_tool(
                "task", {"agent": "echo", "prompt": "from python"}
            )
            if getattr(started, "is_error", None) or getattr(started, "isError", None):
                print(f"task failed: {started.content}")
                return 1
            try:
                await asyncio.wait_for(completed.wait(), timeout=60)
            except asyncio.TimeoutError:
                print(f"no completion notice within 60 s; notices: {notices}")
                return 1
    done = [n for n in notices if n.startswith("[AGENT COMPLETED] echo")]
    print(f"ok: {done[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
