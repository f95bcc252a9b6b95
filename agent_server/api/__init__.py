"""The JSON API as a contract: declared shapes, the route table, the OpenAPI document generated from them."""
