// Compiled by scripts/clients.sh with `tsc --strict --noEmit` against the types that
// openapi-typescript generated from the OpenAPI document (./suyuan.d.ts, written next to a copy
// of this file). A document that generates no or broken types fails here.
import type { components, operations, paths } from "./suyuan";

type Json<T> = T extends { content: { "application/json": infer B } } ? B : never;

// An ingest batch and its answer.
type Ingest = operations["ingestTraceEvents"];
export type IngestBody = Ingest["requestBody"] extends { content: { "application/json": infer B } } ? B : never;
export type IngestAnswer = Json<Ingest["responses"][200]>;

// Stages and actions are enumerations, not free strings.
export const stage: components["schemas"]["Stage"] = "primary_production";
export const action: components["schemas"]["Action"] = "harvest";
// @ts-expect-error an unknown stage is not a Stage
export const wrong: components["schemas"]["Stage"] = "no-such-stage";

// Lists are pages.
export type UserPage = Json<paths["/api/v1/users"]["get"]["responses"][200]>;
export const total = (p: UserPage): number => p.total + p.items.length;

// An upload body is binary, not a JSON array of numbers.
export type ImportBody = operations["importTraceEvents"]["requestBody"];
export const upload = (b: ImportBody): ImportBody => b;

// The problem document every error carries.
export const problemCode = (p: components["schemas"]["Problem"]): string => p.code;
