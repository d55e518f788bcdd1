/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xml_tree: expat's events into a tree of elements (xml_tree.h). Expat was chosen over libxml2
 * because the importers need no more than elements, attributes and text: expat is a tenth of the
 * size, has no network or file access of its own, and cross-builds for HarmonyOS from one
 * directory of C. Pure; any thread.
 */
#include "xml_tree.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#ifdef QHM_HAVE_EXPAT
#include <expat.h>

#define NS_SEP '\x01'

struct build {
  XML_Parser p;
  struct xml_node *root, *cur;
  unsigned depth, nodes;
  char why[128];
};

static const char *local_name(const char *n) {
  const char *s = strrchr(n, NS_SEP);
  return s ? s + 1 : n;
}

static void stop(struct build *b, const char *why) {
  if (!b->why[0])
    snprintf(b->why, sizeof(b->why), "%s", why);
  XML_StopParser(b->p, XML_FALSE);
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **atts) {
  struct build *b = ud;
  if (b->depth >= XML_MAX_DEPTH) {
    stop(b, "nested too deep");
    return;
  }
  if (++b->nodes > XML_MAX_NODES) {
    stop(b, "too many elements");
    return;
  }
  struct xml_node *n = xcalloc(1, sizeof(*n));
  n->name = xstrdup(local_name(name));
  size_t na = 0;
  while (atts[na])
    na++;
  n->attrs = xcalloc(na + 1, sizeof(char *));
  for (size_t i = 0; i < na; i += 2) {
    n->attrs[i] = xstrdup(local_name(atts[i]));
    n->attrs[i + 1] = xstrdup(atts[i + 1]);
  }
  n->text = xstrdup("");
  n->parent = b->cur;
  if (b->cur) {
    if (b->cur->last)
      b->cur->last->next = n;
    else
      b->cur->child = n;
    b->cur->last = n;
  } else {
    b->root = n;
  }
  b->cur = n;
  b->depth++;
}

static void on_end(void *ud, const XML_Char *name) {
  (void)name;
  struct build *b = ud;
  if (b->cur) {
    b->cur = b->cur->parent;
    b->depth--;
  }
}

static void on_text(void *ud, const XML_Char *s, int len) {
  struct build *b = ud;
  struct xml_node *n = b->cur;
  if (!n || len <= 0)
    return;
  if (n->text_len + (size_t)len > XML_MAX_BYTES) {
    stop(b, "text too long");
    return;
  }
  n->text = xrealloc(n->text, n->text_len + (size_t)len + 1);
  memcpy(n->text + n->text_len, s, (size_t)len);
  n->text_len += (size_t)len;
  n->text[n->text_len] = 0;
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                       int has_internal) {
  (void)name;
  (void)sysid;
  (void)pubid;
  /* plists name Apple's DTD: fine, it is never read (no external entities are parsed); an internal
   * subset could declare entities, and is refused */
  if (has_internal)
    stop(ud, "a DOCTYPE with an internal subset is not accepted");
}

static void on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value, int value_len,
                      const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
                      const XML_Char *notation) {
  (void)name;
  (void)is_param;
  (void)value;
  (void)value_len;
  (void)base;
  (void)sysid;
  (void)pubid;
  (void)notation;
  stop(ud, "entity declarations are not accepted");
}

struct xml_node *xml_parse(const char *buf, size_t len, char *err, size_t errlen) {
  if (len > XML_MAX_BYTES) {
    snprintf(err, errlen, "larger than %u bytes", XML_MAX_BYTES);
    return NULL;
  }
  struct build b = {0};
  b.p = XML_ParserCreateNS(NULL, NS_SEP);
  if (!b.p)
    abort();
  XML_SetUserData(b.p, &b);
  XML_SetElementHandler(b.p, on_start, on_end);
  XML_SetCharacterDataHandler(b.p, on_text);
  XML_SetStartDoctypeDeclHandler(b.p, on_doctype);
  XML_SetEntityDeclHandler(b.p, on_entity);
  enum XML_Status st = XML_Parse(b.p, buf, (int)len, XML_TRUE);
  if (st != XML_STATUS_OK || !b.root) {
    if (b.why[0])
      snprintf(err, errlen, "%s", b.why);
    else if (st != XML_STATUS_OK)
      snprintf(err, errlen, "not well-formed XML (line %lu: %s)",
               (unsigned long)XML_GetCurrentLineNumber(b.p), XML_ErrorString(XML_GetErrorCode(b.p)));
    else
      snprintf(err, errlen, "no root element");
    XML_ParserFree(b.p);
    xml_free(b.root);
    return NULL;
  }
  XML_ParserFree(b.p);
  return b.root;
}

#else
/* A build without expat (the HarmonyOS set has none yet): every document is refused, saying so. */
struct xml_node *xml_parse(const char *buf, size_t len, char *err, size_t errlen) {
  (void)buf;
  (void)len;
  snprintf(err, errlen, "this build of qemu-hmos has no XML parser (expat): importing is not available");
  return NULL;
}
#endif

void xml_free(struct xml_node *n) {
  /* iterative over siblings, recursive over depth (bounded by XML_MAX_DEPTH) */
  while (n) {
    struct xml_node *next = n->next;
    xml_free(n->child);
    for (size_t i = 0; n->attrs && n->attrs[i]; i++)
      free(n->attrs[i]);
    free(n->attrs);
    free(n->name);
    free(n->text);
    free(n);
    n = next;
  }
}

const char *xml_attr(const struct xml_node *n, const char *name) {
  for (size_t i = 0; n && n->attrs[i]; i += 2)
    if (strcmp(n->attrs[i], name) == 0)
      return n->attrs[i + 1];
  return NULL;
}

struct xml_node *xml_child(const struct xml_node *n, const char *name, const struct xml_node *after) {
  if (!n)
    return NULL;
  for (struct xml_node *c = after ? after->next : n->child; c; c = c->next)
    if (!name || strcmp(c->name, name) == 0)
      return c;
  return NULL;
}

const char *xml_text(const struct xml_node *n, char *out, size_t outlen) {
  const char *s = n->text, *e = n->text + n->text_len;
  while (s < e && strchr(" \t\r\n", *s))
    s++;
  while (e > s && strchr(" \t\r\n", e[-1]))
    e--;
  snprintf(out, outlen, "%.*s", (int)(e - s), s);
  return out;
}

const char *xml_child_text(const struct xml_node *n, const char *name, char *out, size_t outlen) {
  struct xml_node *c = xml_child(n, name, NULL);
  return c ? xml_text(c, out, outlen) : NULL;
}
