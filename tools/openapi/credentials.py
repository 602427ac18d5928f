"""The access-key (AK/SK) parts of arkserve's OpenAPI document: IAM's permanent-credential API
(internal/httpapi/credentials.go) and the rate limit of token issuance (429). They were written into
openapi.json by hand first; they live here so that gen_openapi.py produces the whole document."""

PARTS = {'paths': {'/v3.0/OS-CREDENTIAL/credentials': {'post': {'operationId': 'CreateCredential',
                                                        'summary': 'Create an access key (AK/SK)',
                                                        'tags': ['Identity'],
                                                        'security': [{'XAuthToken': []}, {'AKSK': []}],
                                                        'description': 'Everyone may create keys for '
                                                                       'themselves, the cloud admin for '
                                                                       'anyone; at most 2 per user. The '
                                                                       'secret is in this answer only.',
                                                        'parameters': [{'$ref': '#/components/parameters/XRequestId'},
                                                                       {'name': 'X-Auth-Token',
                                                                        'in': 'header',
                                                                        'required': False,
                                                                        'schema': {'type': 'string'},
                                                                        'description': "The caller's token "
                                                                                       '(any scope), unless '
                                                                                       'the request is '
                                                                                       'signed.'}],
                                                        'requestBody': {'required': True,
                                                                        'content': {'application/json': {'schema': {'$ref': '#/components/schemas/CreateCredentialRequest'}}}},
                                                        'responses': {'201': {'description': 'Created; the '
                                                                                             'only time the '
                                                                                             'secret is '
                                                                                             'shown.',
                                                                              'headers': {'X-Request-Id': {'$ref': '#/components/headers/X-Request-Id'}},
                                                                              'content': {'application/json': {'schema': {'$ref': '#/components/schemas/CredentialResponse'}}}},
                                                                      '400': {'$ref': '#/components/responses/BadRequest'},
                                                                      '403': {'$ref': '#/components/responses/Forbidden'},
                                                                      '415': {'$ref': '#/components/responses/UnsupportedMediaType'},
                                                                      '401': {'$ref': '#/components/responses/KeystoneUnauthorized'},
                                                                      '413': {'$ref': '#/components/responses/PayloadTooLarge'},
                                                                      '500': {'$ref': '#/components/responses/InternalError'}}},
                                               'get': {'operationId': 'ListCredentials',
                                                       'summary': 'List access keys',
                                                       'tags': ['Identity'],
                                                       'security': [{'XAuthToken': []}, {'AKSK': []}],
                                                       'description': "The caller's keys, or user_id's (the "
                                                                      "caller's own, or anyone's for the "
                                                                      'cloud admin). No secrets.',
                                                       'parameters': [{'$ref': '#/components/parameters/XRequestId'},
                                                                      {'name': 'X-Auth-Token',
                                                                       'in': 'header',
                                                                       'required': False,
                                                                       'schema': {'type': 'string'},
                                                                       'description': "The caller's token "
                                                                                      '(any scope), unless '
                                                                                      'the request is '
                                                                                      'signed.'},
                                                                      {'name': 'user_id',
                                                                       'in': 'query',
                                                                       'required': False,
                                                                       'schema': {'type': 'string'},
                                                                       'description': 'User ID.'}],
                                                       'responses': {'200': {'description': 'Access keys.',
                                                                             'headers': {'X-Request-Id': {'$ref': '#/components/headers/X-Request-Id'}},
                                                                             'content': {'application/json': {'schema': {'$ref': '#/components/schemas/CredentialList'}}}},
                                                                     '400': {'$ref': '#/components/responses/BadRequest'},
                                                                     '403': {'$ref': '#/components/responses/Forbidden'},
                                                                     '401': {'$ref': '#/components/responses/KeystoneUnauthorized'},
                                                                     '413': {'$ref': '#/components/responses/PayloadTooLarge'},
                                                                     '500': {'$ref': '#/components/responses/InternalError'}}}},
           '/v3.0/OS-CREDENTIAL/credentials/{access_key}': {'get': {'operationId': 'ShowCredential',
                                                                    'summary': 'Show an access key',
                                                                    'tags': ['Identity'],
                                                                    'security': [{'XAuthToken': []},
                                                                                 {'AKSK': []}],
                                                                    'parameters': [{'$ref': '#/components/parameters/XRequestId'},
                                                                                   {'name': 'X-Auth-Token',
                                                                                    'in': 'header',
                                                                                    'required': False,
                                                                                    'schema': {'type': 'string'},
                                                                                    'description': 'The '
                                                                                                   "caller's "
                                                                                                   'token '
                                                                                                   '(any '
                                                                                                   'scope), '
                                                                                                   'unless '
                                                                                                   'the '
                                                                                                   'request '
                                                                                                   'is '
                                                                                                   'signed.'},
                                                                                   {'name': 'access_key',
                                                                                    'in': 'path',
                                                                                    'required': True,
                                                                                    'schema': {'type': 'string'},
                                                                                    'description': 'Access '
                                                                                                   'key id '
                                                                                                   '(AK).'}],
                                                                    'responses': {'200': {'description': 'The '
                                                                                                         'access '
                                                                                                         'key, '
                                                                                                         'without '
                                                                                                         'its '
                                                                                                         'secret.',
                                                                                          'headers': {'X-Request-Id': {'$ref': '#/components/headers/X-Request-Id'}},
                                                                                          'content': {'application/json': {'schema': {'$ref': '#/components/schemas/CredentialResponse'}}}},
                                                                                  '404': {'$ref': '#/components/responses/AccessKeyNotFound'},
                                                                                  '401': {'$ref': '#/components/responses/KeystoneUnauthorized'},
                                                                                  '413': {'$ref': '#/components/responses/PayloadTooLarge'},
                                                                                  '500': {'$ref': '#/components/responses/InternalError'}}},
                                                            'delete': {'operationId': 'DeleteCredential',
                                                                       'summary': 'Delete an access key',
                                                                       'tags': ['Identity'],
                                                                       'security': [{'XAuthToken': []},
                                                                                    {'AKSK': []}],
                                                                       'parameters': [{'$ref': '#/components/parameters/XRequestId'},
                                                                                      {'name': 'X-Auth-Token',
                                                                                       'in': 'header',
                                                                                       'required': False,
                                                                                       'schema': {'type': 'string'},
                                                                                       'description': 'The '
                                                                                                      "caller's "
                                                                                                      'token '
                                                                                                      '(any '
                                                                                                      'scope), '
                                                                                                      'unless '
                                                                                                      'the '
                                                                                                      'request '
                                                                                                      'is '
                                                                                                      'signed.'},
                                                                                      {'name': 'access_key',
                                                                                       'in': 'path',
                                                                                       'required': True,
                                                                                       'schema': {'type': 'string'},
                                                                                       'description': 'Access '
                                                                                                      'key '
                                                                                                      'id '
                                                                                                      '(AK).'}],
                                                                       'description': 'Requests signed with '
                                                                                      'it fail from then on.',
                                                                       'responses': {'204': {'description': 'Deleted.',
                                                                                             'headers': {'X-Request-Id': {'$ref': '#/components/headers/X-Request-Id'}}},
                                                                                     '404': {'$ref': '#/components/responses/AccessKeyNotFound'},
                                                                                     '401': {'$ref': '#/components/responses/KeystoneUnauthorized'},
                                                                                     '413': {'$ref': '#/components/responses/PayloadTooLarge'},
                                                                                     '500': {'$ref': '#/components/responses/InternalError'}}}}},
 'token_429': {'$ref': '#/components/responses/TooManyRequests'},
 'responses': {'AccessKeyNotFound': {'description': 'No such access key among those the caller may manage '
                                                    '(ModelArts.0214).',
                                     'headers': {'X-Request-Id': {'$ref': '#/components/headers/X-Request-Id'}},
                                     'content': {'application/json': {'schema': {'$ref': '#/components/schemas/ErrorBody'}}}},
               'TooManyRequests': {'description': 'Too many token requests for this user from this address '
                                                  '(ModelArts.2799); Retry-After says when to try again.',
                                   'headers': {'X-Request-Id': {'$ref': '#/components/headers/X-Request-Id'},
                                               'Retry-After': {'schema': {'type': 'integer'},
                                                               'description': 'Seconds to wait.'}},
                                   'content': {'application/json': {'schema': {'$ref': '#/components/schemas/ErrorBody'}}}}},
 'schemas': {'CreateCredentialRequest': {'type': 'object',
                                         'required': ['credential'],
                                         'properties': {'credential': {'type': 'object',
                                                                       'properties': {'user_id': {'type': 'string',
                                                                                                  'description': 'The '
                                                                                                                 "key's "
                                                                                                                 'user; '
                                                                                                                 'the '
                                                                                                                 'caller '
                                                                                                                 'by '
                                                                                                                 'default '
                                                                                                                 '(an '
                                                                                                                 'arkserve '
                                                                                                                 'extension: '
                                                                                                                 'IAM '
                                                                                                                 'requires '
                                                                                                                 'it).'},
                                                                                      'description': {'type': 'string',
                                                                                                      'maxLength': 255}}}}},
             'Credential': {'type': 'object',
                            'required': ['user_id', 'access', 'status', 'create_time', 'description'],
                            'additionalProperties': False,
                            'properties': {'user_id': {'type': 'string'},
                                           'access': {'type': 'string',
                                                      'description': 'The access key id (AK).'},
                                           'secret': {'type': 'string',
                                                      'description': 'The secret key (SK): only in the '
                                                                     'answer to create, never again.'},
                                           'status': {'type': 'string', 'enum': ['active']},
                                           'create_time': {'type': 'string',
                                                           'description': 'UTC, e.g. '
                                                                          '2026-11-27T10:00:00.000000Z.'},
                                           'description': {'type': 'string'}}},
             'CredentialList': {'type': 'object',
                                'required': ['credentials'],
                                'additionalProperties': False,
                                'properties': {'credentials': {'type': 'array',
                                                               'items': {'$ref': '#/components/schemas/Credential'}}}},
             'CredentialResponse': {'type': 'object',
                                    'required': ['credential'],
                                    'additionalProperties': False,
                                    'properties': {'credential': {'$ref': '#/components/schemas/Credential'}}}}}


def add(paths, schemas, responses):
    paths.update(PARTS["paths"])
    paths["/v3/auth/tokens"]["post"]["responses"]["429"] = PARTS["token_429"]
    responses.update(PARTS["responses"])
    schemas.update(PARTS["schemas"])
