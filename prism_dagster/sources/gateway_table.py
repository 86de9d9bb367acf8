"""The gateway's request-log table as the gateway creates it.

For simulation, tests and benchmarks: TABLE_DDL creates the table and its indexes, COLUMNS
lists the columns loaded rows fill.
"""

from __future__ import annotations

TABLE_DDL = """
CREATE TABLE agentcc_request_log (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL,
    workspace_id uuid NULL,
    request_id text, model text, provider text, resolved_model text,
    latency_ms integer,
    started_at timestamptz NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted boolean NOT NULL DEFAULT false,
    input_tokens integer, output_tokens integer, total_tokens integer,
    cost numeric(12, 6),
    status_code integer, is_stream boolean, is_error boolean, error_message text,
    cache_hit boolean, fallback_used boolean, guardrail_triggered boolean,
    api_key_id text, user_id text, session_id text, routing_strategy text,
    metadata jsonb, request_body jsonb, response_body jsonb,
    request_headers jsonb, response_headers jsonb
);
CREATE INDEX ON agentcc_request_log (organization_id, started_at);
CREATE INDEX ON agentcc_request_log (organization_id, created_at);
"""
# The columns loaded rows fill (a COPY's column list); the others keep their default or NULL.
COLUMNS = (
    "organization_id", "workspace_id", "deleted", "request_id", "model", "provider",
    "resolved_model", "latency_ms", "started_at", "created_at", "input_tokens", "output_tokens",
    "total_tokens", "cost", "status_code", "is_stream", "is_error", "error_message", "cache_hit",
    "fallback_used", "guardrail_triggered", "api_key_id", "user_id", "session_id",
    "routing_strategy", "request_body",
)  # fmt: skip
