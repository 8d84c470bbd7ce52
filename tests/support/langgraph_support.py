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


# -- a chat's usual shape: an agent that calls a tool, on LangGraph's MessagesState ----


def build_messages_graph(checkpointer: Any) -> Any:
    """``START -> agent -> tool -> END`` on ``MessagesState``: each turn adds a human,
    an AI (with a tool call) and a tool message, through ``add_messages``."""
    from langchain_core.messages import AIMessage, ToolMessage
    from langgraph.graph import END, START, MessagesState, StateGraph

    def agent(state: MessagesState) -> dict[str, Any]:
        n = len(state["messages"])
        call = {"name": "lookup", "args": {"query": f"item {n}"}, "id": f"call_{n}"}
        return {"messages": [AIMessage(content=f"looking up item {n}", tool_calls=[call])]}

    def tool(state: MessagesState) -> dict[str, Any]:
        call = state["messages"][-1].tool_calls[0]
        return {"messages": [ToolMessage(content=f"found {call['args']}", tool_call_id=call["id"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tool", tool)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", "tool")
    builder.add_edge("tool", END)
    return builder.compile(checkpointer=checkpointer)
