/* SHA-256 through the low-level interface below, not EVP: the same digest, without loading
   OpenSSL 3's provider machinery, which costs a process that only hashes about 2 MiB of
   resident memory. The interface is deprecated in OpenSSL 3 in favour of EVP, not removed. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/sha.h>

/* SHA-256 of `count` bytes into `digest` (32 bytes); 1 on success. */
static inline int pocare_sha256(const void *data, size_t count, unsigned char *digest) {
    SHA256_CTX context;
    if (SHA256_Init(&context) != 1) return 0;
    if (count > 0 && SHA256_Update(&context, data, count) != 1) return 0;
    return SHA256_Final(digest, &context);
}

/* The same digest over data that arrives in pieces (an archive written row by row). */
static inline int pocare_sha256_init(SHA256_CTX *context) { return SHA256_Init(context); }
static inline int pocare_sha256_update(SHA256_CTX *context, const void *data, size_t count) {
    return count == 0 ? 1 : SHA256_Update(context, data, count);
}
static inline int pocare_sha256_final(SHA256_CTX *context, unsigned char *digest) { return SHA256_Final(digest, context); }
