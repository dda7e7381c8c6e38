// The knowledge base over HTTP, under /tandem/v1/kb:
//   GET    /tandem/v1/kb/collections
//   GET    /tandem/v1/kb/documents[?collection=NAME]
//   POST   /tandem/v1/kb/documents?collection=NAME&name=FILE   raw file bytes as the body, or
//          multipart/form-data with a "file" part (and an optional "collection" field)
//   GET    /tandem/v1/kb/documents/{id}
//   DELETE /tandem/v1/kb/documents/{id}
//   POST   /tandem/v1/kb/search   {"query", "k", "mode": "bm25|dense|hybrid", "collections": [...]}
// Errors have the OpenAI error shape; without a knowledge base every route answers 404. Each
// tenant sees only its own collections (tenancy.h); another tenant's document ids answer 404.
// Thread-safety: handlers run on httplib's threads; the knowledge base is thread-safe.
#pragma once

namespace httplib {
class Server;
}

namespace tandem::knowledge {
class KnowledgeBase;
}

namespace tandem::server {

class Authenticator;

// `kb` may be null; it and `auth` must outlive `http`.
void add_knowledge_routes(httplib::Server& http, knowledge::KnowledgeBase* kb, const Authenticator& auth);

}  // namespace tandem::server
