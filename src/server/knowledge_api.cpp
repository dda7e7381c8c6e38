#include "server/knowledge_api.h"

#include <fmt/format.h>

#include "knowledge/knowledge_base.h"
#include "server/http_reply.h"
#include "server/tenancy.h"

namespace tandem::server {
namespace {

using httplib::Request;
using httplib::Response;
using nlohmann::json;

constexpr const char* kPrefix = "/tandem/v1/kb";

json document_json(const knowledge::DocumentRecord& d, const std::string& collection) {
  return {{"id", d.id},         {"collection", collection}, {"path", d.path},
          {"format", d.format}, {"title", d.title},         {"bytes", d.bytes},
          {"pages", d.pages},   {"chunks", d.chunks},       {"added_at", d.added_at}};
}

void reply_status(Response& res, const Error& error, const std::string& param = {}) {
  reply_error(res, api_error(error, param));
}

int64_t document_id(const Request& req) {
  return std::stoll(req.matches[1].str());
}

// The document with the request's id when `caller` may see it; another tenant's document is as
// unknown as a missing one.
Result<std::pair<knowledge::DocumentRecord, std::string>> visible_document(knowledge::KnowledgeBase& kb,
                                                                           const Caller& caller, const Request& req) {
  const int64_t id = document_id(req);
  auto document = kb.document(id);
  if (!document) return document.error();
  auto collection = visible_collection(caller, document->collection);
  if (!collection) return make_error(ErrorCode::kNotFound, "no document with id " + std::to_string(id));
  return std::make_pair(std::move(*document), std::move(*collection));
}

void upload(knowledge::KnowledgeBase& kb, const Caller& caller, const Request& req, Response& res) {
  std::string collection = req.get_param_value("collection");
  std::string name = req.get_param_value("name");
  std::string_view bytes = req.body;
  httplib::MultipartFormData file;  // owns the bytes of a multipart upload
  if (req.is_multipart_form_data()) {
    if (!req.has_file("file")) {
      return reply_status(res, make_error(ErrorCode::kInvalidArgument, "the multipart body needs a 'file' part"),
                          "file");
    }
    file = req.get_file_value("file");
    bytes = file.content;
    if (name.empty()) name = file.filename;
    if (collection.empty() && req.has_file("collection")) collection = req.get_file_value("collection").content;
  }
  if (collection.empty()) collection = "default";
  // Only the file name is kept: an upload never names a place on this machine.
  name = name.substr(name.find_last_of("/\\") == std::string::npos ? 0 : name.find_last_of("/\\") + 1);
  if (name.empty())
    return reply_status(res, make_error(ErrorCode::kInvalidArgument, "the upload needs a file name"), "name");
  auto outcome = kb.add_bytes(bytes, name, tenant_collection(caller, collection));
  if (!outcome) return reply_status(res, outcome.error());
  if (outcome->status == knowledge::FileStatus::kFailed || outcome->status == knowledge::FileStatus::kSkipped) {
    return reply_status(res, make_error(ErrorCode::kInvalidArgument, fmt::format("{}: {}", name, outcome->message)),
                        "file");
  }
  json body = {{"status", knowledge::file_status_name(outcome->status)}, {"message", outcome->message}};
  if (auto document = kb.document(outcome->document_id)) body["document"] = document_json(*document, collection);
  reply_json(res, body, outcome->status == knowledge::FileStatus::kAdded ? 201 : 200);
}

void search(knowledge::KnowledgeBase& kb, const Caller& caller, const Request& req, Response& res) {
  json doc;
  try {
    doc = json::parse(req.body);
  } catch (const json::exception&) {
    return reply_status(res, make_error(ErrorCode::kInvalidArgument, "the body is not valid JSON"));
  }
  if (!doc.is_object() || !doc.contains("query") || !doc["query"].is_string()) {
    return reply_status(res, make_error(ErrorCode::kInvalidArgument, "query must be a string"), "query");
  }
  knowledge::SearchOptions options;
  if (doc.contains("k")) {
    if (!doc["k"].is_number_integer() || doc["k"].get<int64_t>() < 1 || doc["k"].get<int64_t>() > 100) {
      return reply_status(res, make_error(ErrorCode::kInvalidArgument, "k must be an integer from 1 to 100"), "k");
    }
    options.k = doc["k"].get<int>();
  }
  if (doc.contains("mode")) {
    auto mode = doc["mode"].is_string()
                    ? knowledge::parse_search_mode(doc["mode"].get<std::string>())
                    : Result<knowledge::SearchMode>(make_error(ErrorCode::kInvalidArgument, "mode must be a string"));
    if (!mode) return reply_status(res, mode.error(), "mode");
    options.mode = *mode;
  }
  std::vector<std::string> asked;
  if (doc.contains("collections")) {
    const json& names = doc["collections"];
    if (!names.is_array())
      return reply_status(res, make_error(ErrorCode::kInvalidArgument, "collections must be an array"), "collections");
    for (const auto& name : names) {
      if (!name.is_string())
        return reply_status(res, make_error(ErrorCode::kInvalidArgument, "collections must hold strings"),
                            "collections");
      asked.push_back(name.get<std::string>());
    }
  }
  auto collections = searchable_collections(kb, caller, asked);
  if (!collections) return reply_status(res, collections.error(), "collections");
  if (collections->empty() && !caller.tenant.empty()) {  // a tenant without documents
    return reply_json(res, {{"hits", json::array()}, {"top_similarity", 0.0}, {"search_ms", 0.0}});
  }
  options.collections = std::move(*collections);
  auto found = kb.search(doc["query"].get<std::string>(), options);
  if (!found)
    return reply_status(res, found.error(), found.error().code == ErrorCode::kNotFound ? "collections" : "query");
  json hits = json::array();
  for (const auto& h : found->hits) {
    hits.push_back({{"score", h.score},
                    {"bm25_rank", h.bm25_rank},
                    {"dense_rank", h.dense_rank},
                    {"similarity", h.similarity},
                    {"document_id", h.chunk.document_id},
                    {"path", h.chunk.path},
                    {"title", h.chunk.title},
                    {"heading", h.chunk.heading},
                    {"page", h.chunk.page},
                    {"char_start", h.chunk.char_start},
                    {"char_end", h.chunk.char_end},
                    {"text", h.chunk.text}});
  }
  reply_json(res, {{"hits", hits}, {"top_similarity", found->top_similarity}, {"search_ms", found->search_ms}});
}

}  // namespace

void add_knowledge_routes(httplib::Server& http, knowledge::KnowledgeBase* kb, const Authenticator& auth) {
  // Every route needs the base and a caller; without them they say so.
  auto with_kb = [kb, &auth](auto handler) {
    return [kb, &auth, handler](const Request& req, Response& res) {
      if (!kb) return reply_status(res, make_error(ErrorCode::kNotFound, "no knowledge base is configured"));
      auto caller = auth.authenticate(req);
      if (!caller) return reply_status(res, caller.error());
      handler(*kb, *caller, req, res);
    };
  };
  const std::string prefix = kPrefix;
  http.Get(prefix + "/collections",
           with_kb([](knowledge::KnowledgeBase& kb, const Caller& caller, const Request&, Response& res) {
             auto collections = kb.collections();
             if (!collections) return reply_status(res, collections.error(), "collections");
             json data = json::array();
             for (const auto& c : *collections) {
               if (auto name = visible_collection(caller, c.name)) {
                 data.push_back({{"name", *name}, {"documents", c.documents}, {"chunks", c.chunks}});
               }
             }
             reply_json(res, {{"data", data}});
           }));
  http.Get(prefix + "/documents",
           with_kb([](knowledge::KnowledgeBase& kb, const Caller& caller, const Request& req, Response& res) {
             const std::string asked = req.get_param_value("collection");
             auto documents = kb.documents(asked.empty() ? "" : tenant_collection(caller, asked));
             if (!documents) return reply_status(res, documents.error(), "collection");
             json data = json::array();
             for (const auto& d : *documents) {
               if (auto name = visible_collection(caller, d.collection)) data.push_back(document_json(d, *name));
             }
             reply_json(res, {{"data", data}});
           }));
  http.Post(prefix + "/documents", with_kb(upload));
  http.Get(prefix + R"(/documents/(\d{1,18}))",
           with_kb([](knowledge::KnowledgeBase& kb, const Caller& caller, const Request& req, Response& res) {
             auto document = visible_document(kb, caller, req);
             if (!document) return reply_status(res, document.error());
             reply_json(res, document_json(document->first, document->second));
           }));
  http.Delete(prefix + R"(/documents/(\d{1,18}))",
              with_kb([](knowledge::KnowledgeBase& kb, const Caller& caller, const Request& req, Response& res) {
                auto document = visible_document(kb, caller, req);
                if (!document) return reply_status(res, document.error());
                auto removed = kb.remove_document(document->first.id);
                if (!removed) return reply_status(res, removed.error());
                reply_json(res, {{"id", removed->id}, {"deleted", true}});
              }));
  http.Post(prefix + "/search", with_kb(search));
}

}  // namespace tandem::server
