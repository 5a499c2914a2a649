"""Gemini for chatdf: the SDK client, the tool declarations and the system prompt.

The controller uses this package and nothing below it; it never imports the
store or the widget.
"""

from .client import (
    CONTEXT_WINDOWS,
    FunctionCall,
    GeminiClient,
    Reply,
    ReplyBuilder,
    RetryPolicy,
    StreamChunk,
    Usage,
    context_window,
    estimate_tokens,
)
from .prompts import system_prompt
from .tools import (
    EXECUTE_SQL,
    LOAD_DATASET,
    TOOLS,
    dataset_payload,
    error_payload,
    function_response_part,
    function_responses_content,
    query_result_payload,
    required_argument,
)

__all__ = [
    "CONTEXT_WINDOWS",
    "EXECUTE_SQL",
    "LOAD_DATASET",
    "TOOLS",
    "FunctionCall",
    "GeminiClient",
    "Reply",
    "ReplyBuilder",
    "RetryPolicy",
    "StreamChunk",
    "Usage",
    "context_window",
    "dataset_payload",
    "error_payload",
    "estimate_tokens",
    "function_response_part",
    "function_responses_content",
    "query_result_payload",
    "required_argument",
    "system_prompt",
]
