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
