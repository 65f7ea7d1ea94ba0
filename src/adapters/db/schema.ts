/** Table shapes as stored. Times are ISO-8601 UTC text; booleans are 0/1 integers (portable). */
export interface DB {
  products: {
    id: string;
    slug: string;
    name: string;
    download_limit: number;
    link_ttl_seconds: number;
    access_days: number;
    item_id: number | null;
    /** JSON LicensePolicy, or null for unlicensed products. */
    license_policy: string | null;
    /** JSON WatermarkSettings, or null when watermarking is off. */
    watermark: string | null;
    created_at: string;
  };
  files: {
    id: string;
    product_id: string;
    name: string;
    size: number;
    sha256: string;
    content_type: string;
    storage: string;
    object_key: string;
    created_at: string;
  };
  customers: { id: string; email: string; name: string | null; created_at: string };
  orders: { id: string; customer_id: string; source: string; external_id: string | null; created_at: string };
  idempotency_keys: { key: string; request_hash: string; order_id: string; created_at: string };
  grants: {
    id: string;
    order_id: string;
    product_id: string;
    customer_id: string;
    download_limit: number;
    link_ttl_seconds: number;
    access_until: string | null;
    revoked_at: string | null;
    created_at: string;
  };
  grant_usage: { grant_id: string; file_id: string; downloads_used: number };
  download_events: {
    id: string;
    at: string;
    grant_id: string;
    file_id: string;
    order_id: string;
    customer_id: string;
    ip: string | null;
    user_agent: string | null;
    bytes: number | null;
    status: string;
    counted: number;
    range: string | null;
  };
  api_tokens: { id: string; name: string; token_hash: string; created_at: string };
  settings: { key: string; value: string };
  secrets: { id: string; purpose: string; ciphertext: string; hint: string; updated_at: string };
  licenses: {
    id: string;
    key_hash: string;
    key_enc: string;
    key_hint: string;
    product_id: string;
    customer_id: string;
    order_id: string | null;
    status: string;
    expires_at: string | null;
    activation_limit: number;
    expiry_stops: string;
    created_at: string;
  };
  activations: {
    id: string;
    license_id: string;
    kind: string;
    identifier: string;
    name: string | null;
    is_local: number;
    version: string | null;
    created_at: string;
    last_seen_at: string;
    deactivated_at: string | null;
  };
  license_events: { id: string; license_id: string; type: string; detail: string; at: string };
  releases: {
    id: string;
    product_id: string;
    version: string;
    file_name: string;
    size: number;
    sha256: string;
    content_type: string;
    storage: string;
    object_key: string;
    changelog: string | null;
    requires_php: string | null;
    requires_wp: string | null;
    tested: string | null;
    beta: number;
    created_at: string;
  };
  outbox: {
    id: string;
    topic: string;
    payload: string;
    idempotency_key: string;
    status: string;
    attempts: number;
    next_attempt_at: string;
    locked_until: string | null;
    last_error: string | null;
    created_at: string;
    delivered_at: string | null;
  };
  connections: { id: string; kind: string; settings: string; created_at: string };
  product_mappings: { kind: string; value: string; product_id: string; created_at: string };
  external_orders: {
    source: string;
    external_id: string;
    state: string;
    platform_status: string;
    modified_at: string | null;
    order_id: string | null;
    access: string;
    ended_at: string | null;
    updated_at: string;
  };
  order_lines: {
    order_id: string;
    line_id: string;
    product_id: string;
    quantity: number;
    created_at: string;
  };
  processed_events: { source: string; event_id: string; at: string };
  webhook_endpoints: { id: string; url: string; events: string; created_at: string };
  file_analyses: {
    file_id: string;
    kind: string;
    status: string;
    method: string;
    reason: string | null;
    master_key: string | null;
    master_size: number | null;
    data: string | null;
    created_at: string;
  };
  watermark_marks: { token: string; grant_id: string; file_id: string; created_at: string };
}
