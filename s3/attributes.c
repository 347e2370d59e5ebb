/* attributes.c — GetObjectAttributes' x-amz-object-attributes header.
 *
 * A comma-separated list of attribute names, spaces or tabs around each
 * allowed, empty items skipped; names are exact (AWS: ETag, Checksum,
 * ObjectParts, StorageClass, ObjectSize).
 */
#include <string.h>

#include "s3/s3_int.h"

int s3_object_attributes_parse(const char *v, size_t len, unsigned *want)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"ETag", S3_ATTR_ETAG},
                 {"Checksum", S3_ATTR_CHECKSUM},
                 {"ObjectParts", S3_ATTR_OBJECT_PARTS},
                 {"StorageClass", S3_ATTR_STORAGE_CLASS},
                 {"ObjectSize", S3_ATTR_OBJECT_SIZE}};
    size_t i = 0;
    *want = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t'))
            i++;
        size_t s = i;
        while (i < len && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        i++; /* past the comma */
        if (e == s)
            continue;
        unsigned bit = 0;
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            if (strlen(names[k].name) == e - s && memcmp(names[k].name, v + s, e - s) == 0)
                bit = names[k].bit;
        if (bit == 0) {
            *want = 0;
            return -1;
        }
        *want |= bit;
    }
    return 0;
}
