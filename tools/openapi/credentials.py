"""The access-key (AK/SK) parts of arkserve's OpenAPI document: IAM's permanent-credential API
(internal/httpapi/credentials.go) and the rate limit of token issuance (429)."""


def add(paths, schemas, responses, helpers):
    g = helpers
    s, obj, arr, ref, errs = g["s"], g["obj"], g["arr"], g["ref"], g["errs"]
    rid = {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}

    def err_resp(desc, extra_headers=None):
        return {"description": desc, "headers": dict(rid, **(extra_headers or {})),
                "content": {"application/json": {"schema": ref("ErrorBody")}}}

    def ok(desc, schema_name=None):
        r = {"description": desc, "headers": rid}
        if schema_name:
            r["content"] = {"application/json": {"schema": ref(schema_name)}}
        return r

    responses["AccessKeyNotFound"] = err_resp("No such access key among those the caller may manage (ModelArts.0214).")
    responses["TooManyRequests"] = err_resp(
        "Too many token requests for this user from this address (ModelArts.2799); Retry-After says when to try again.",
        {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}})
    paths["/v3/auth/tokens"]["post"]["responses"]["429"] = {"$ref": "#/components/responses/TooManyRequests"}

    schemas["CreateCredentialRequest"] = obj({"credential": obj({
        "user_id": s("The key's user; the caller by default (an arkserve extension: IAM requires it)."),
        "description": s(maxLength=255),
    }, closed=False)}, ["credential"], closed=False)
    schemas["Credential"] = obj({
        "user_id": s(),
        "access": s("The access key id (AK)."),
        "secret": s("The secret key (SK): only in the answer to create, never again."),
        "status": s(enum=["active"]),
        "create_time": s("UTC, e.g. 2026-11-27T10:00:00.000000Z."),
        "description": s(),
    }, ["user_id", "access", "status", "create_time", "description"])
    schemas["CredentialList"] = obj({"credentials": arr(ref("Credential"))}, ["credentials"])
    schemas["CredentialResponse"] = obj({"credential": ref("Credential")}, ["credential"])

    token = {"name": "X-Auth-Token", "in": "header", "required": False, "schema": s(),
             "description": "The caller's token (any scope), unless the request is signed."}
    access_key = {"name": "access_key", "in": "path", "required": True, "schema": s(), "description": "Access key id (AK)."}
    ks401 = {"401": {"$ref": "#/components/responses/KeystoneUnauthorized"}}
    not_found = {"404": {"$ref": "#/components/responses/AccessKeyNotFound"}}

    def op(op_id, summary, params, resps, desc=None, body=None):
        o = {"operationId": op_id, "summary": summary, "tags": ["Identity"],
             "security": [{"XAuthToken": []}, {"AKSK": []}],
             "parameters": [{"$ref": "#/components/parameters/XRequestId"}, token] + params, "responses": resps}
        if desc:
            o["description"] = desc
        if body:
            o["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
        return o

    paths["/v3.0/OS-CREDENTIAL/credentials"] = {
        "post": op("CreateCredential", "Create an access key (AK/SK)", [],
                   {"201": ok("Created; the only time the secret is shown.", "CredentialResponse"),
                    **errs(400, 403, 415), **ks401, **errs(413, 500)},
                   "Everyone may create keys for themselves, the cloud admin for anyone; at most 2 per user. "
                   "The secret is in this answer only.", "CreateCredentialRequest"),
        "get": op("ListCredentials", "List access keys",
                  [{"name": "user_id", "in": "query", "required": False, "schema": s(), "description": "User ID."}],
                  {"200": ok("Access keys.", "CredentialList"), **errs(400, 403), **ks401, **errs(413, 500)},
                  "The caller's keys, or user_id's (the caller's own, or anyone's for the cloud admin). No secrets."),
    }
    paths["/v3.0/OS-CREDENTIAL/credentials/{access_key}"] = {
        "get": op("ShowCredential", "Show an access key", [access_key],
                  {"200": ok("The access key, without its secret.", "CredentialResponse"), **not_found, **ks401,
                   **errs(413, 500)}),
        "delete": op("DeleteCredential", "Delete an access key", [access_key],
                     {"204": ok("Deleted."), **not_found, **ks401, **errs(413, 500)},
                     "Requests signed with it fail from then on."),
    }
