"""The graphs the LangGraph tests run: plain Python nodes, no model."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

# -- a graph of plain Python nodes: no model, fully deterministic ----------------------


class ChatState(TypedDict):
    messages: Annotated[list[str], operator.add]
    turns: int
    route: str


def _build(checkpointer: Any, *, interrupting: bool = False) -> Any:
    """A graph with a branch, a fan-out of two parallel nodes and, optionally, an
    ``interrupt()`` that waits for a human's answer."""
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt

    def greet(state: ChatState) -> dict[str, Any]:
        last = state["messages"][-1]
        return {"messages": [f"echo:{last}"], "turns": state.get("turns", 0) + 1}

    def choose(state: ChatState) -> dict[str, Any]:
        return {"route": "long" if len(state["messages"]) > 4 else "short"}

    def left(state: ChatState) -> dict[str, Any]:
        return {"messages": [f"left:{state['turns']}"]}

    def right(state: ChatState) -> dict[str, Any]:
        return {"messages": [f"right:{state['turns']}"]}

    def ask(state: ChatState) -> dict[str, Any]:
        answer = interrupt({"question": f"approve turn {state['turns']}?"})
        return {"messages": [f"human:{answer}"]}

    builder = StateGraph(ChatState)
    builder.add_node("greet", greet)
    builder.add_node("choose", choose)
    builder.add_node("left", left)
    builder.add_node("right", right)
    builder.add_edge(START, "greet")
    builder.add_edge("greet", "choose")
    builder.add_conditional_edges(
        "choose", lambda s: ["left", "right"] if s["route"] == "long" else ["left"]
    )
    if interrupting:
        builder.add_node("ask", ask)
        builder.add_edge("left", "ask")
        builder.add_edge("ask", END)
    else:
        builder.add_edge("left", END)
    builder.add_edge("right", END)
    return builder.compile(checkpointer=checkpointer)


def build_graph(checkpointer: Any) -> Any:
    return _build(checkpointer)


def build_interrupting_graph(checkpointer: Any) -> Any:
    return _build(checkpointer, interrupting=True)
