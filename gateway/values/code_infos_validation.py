"""The code catalogue's 3xxx band: validation, a request the gateway cannot read or accept.
``codes.CATALOGUE`` holds every band."""

from .code_names import Code, CodeInfo

__all__ = ["VALIDATION"]

VALIDATION: dict[Code, CodeInfo] = {
    Code.VALIDATION_FAILED: CodeInfo(422, "Request validation failed"),
    Code.INVALID_JSON: CodeInfo(400, "Request body is not valid JSON"),
    Code.UNSUPPORTED_MEDIA_TYPE: CodeInfo(415, "Content-Type must be application/json"),
    Code.BODY_TOO_LARGE: CodeInfo(413, "Request body too large"),
    Code.INVALID_CURSOR: CodeInfo(422, "Invalid pagination cursor"),
    Code.INVALID_QUERY: CodeInfo(422, "Invalid query parameter"),
    Code.ROUTE_NOT_FOUND: CodeInfo(404, "No such route"),
    Code.METHOD_NOT_ALLOWED: CodeInfo(405, "Method not allowed on this route"),
    Code.DUPLICATE_JSON_KEY: CodeInfo(400, "Request body repeats a key in a JSON object"),
    Code.JSON_TOO_DEEP: CodeInfo(400, "Request body nests arrays and objects too deeply"),
    Code.TEXT_HOLDS_NUL: CodeInfo(400, "Request text contains a NUL character"),
}
