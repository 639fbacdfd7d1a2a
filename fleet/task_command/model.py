"""``task model``: how to reach the run's model from this workspace while developing, and
``task model env``: the two variables the ``openai`` client reads, for ``eval``.

The model is the portal's gateway (an OpenAI-compatible address under the portal's task API);
this run's token is its key, so nothing else is needed and the operator's key never comes here.
Only environments that lend a model have one; the portal says so otherwise.
"""

from __future__ import annotations

import argparse
import shlex

from .client import OK, Client

HELP = 'how to reach the run\'s model (`eval "$(task model env)"` sets OPENAI_BASE_URL/KEY)'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "what",
        nargs="?",
        choices=["env"],
        help="env: print `export OPENAI_BASE_URL=... OPENAI_API_KEY=...` for eval",
    )


def run(client: Client, args: argparse.Namespace) -> int:
    info = client.get("/model")
    base_url = client.url + str(info.get("path") or "/api/v1/task/model/v1")
    if args.what == "env":
        print(
            f"export OPENAI_BASE_URL={shlex.quote(base_url)}"
            f" OPENAI_API_KEY={shlex.quote(client.token)}"
        )
        return OK
    used, budget = info.get("used_tokens", 0), info.get("budget_tokens", 0)
    left = info.get("remaining_tokens", 0)
    print(f"Model: {info.get('model', '-')}")
    print(
        f"Development budget: {used:,} of {budget:,} tokens used ({left:,} left), for the whole run"
    )
    print(f"Endpoint (OpenAI-compatible): {base_url}")
    print("Key: this run's token. In a shell:")
    print('    eval "$(task model env)"   # sets OPENAI_BASE_URL and OPENAI_API_KEY')
    print("then any OpenAI client works, e.g. openai.OpenAI().chat.completions.create(...).")
    print("Every `task score` runs your code with a model budget of its own, besides this one.")
    return OK
