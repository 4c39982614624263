/*
 * Plan-directed extraction of an lxml element's subtree, in one pass in C.
 *
 * Why: reading a camt Ntry through lxml's Python API costs a proxy object and a tag
 * string per element touched (about 40 per entry); that was four times the cost of
 * libxml2 parsing the entry. This module walks the libxml2 nodes under an lxml element
 * and fills Python lists ("records") with the texts a plan asks for, nothing else.
 *
 * It never decides anything about the content: it copies texts. Whenever the subtree
 * holds something the plan does not cover (an unknown element, a foreign namespace, a
 * second occurrence of a single element, a text over the limit, a node kind it does not
 * read), it returns None and the caller reads that element with the full Python reader,
 * which reports problems with their lines. So this is an accelerator whose only possible
 * outcomes are "the same texts the Python reader would read" or "not handled".
 *
 * A plan is built once from nested Python tuples (see formats/camt/fastpath.py):
 *   plan  = (nslots, text_slot, strict, (rule, ...))
 *   rule  = (name: bytes, kind: int, slot: int, subplan | None)
 * name is a local element name, or b"@Name" for an attribute without namespace.
 *
 * The lxml element layout (struct LxmlElement) is lxml's public C API (etree.h); the
 * libxml2 node structures come from the headers lxml ships. Nothing from libxml2 is
 * called: only its node structures are read, while the caller holds the element.
 * formats/camt/fastpath.py checks the layout on a known document at import.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <string.h>
#include <libxml/tree.h>
#include <datetime.h>

struct LxmlElement {
    PyObject_HEAD
    PyObject *_doc;
    xmlNode *_c_node;
    PyObject *_tag;
};

enum {
    K_TEXT = 1,      /* first occurrence: its text; a second occurrence: not handled */
    K_TEXT_LIST = 2, /* every occurrence: its text (or None), appended to a list */
    K_NODE = 3,      /* first occurrence: a sub-record; a second: not handled */
    K_GROUP = 4,     /* every occurrence: a sub-record appended to a list */
    K_FALLBACK = 5,  /* present: not handled */
    K_IGNORE = 6,    /* skipped with its subtree */
    K_ATTR = 7,      /* attribute value (name starts with '@') */
    K_LINE = 8       /* the element's own source line, as lxml's sourceline (name "#line") */
};

typedef struct Plan Plan;

typedef struct {
    char *name;
    int kind;
    Py_ssize_t slot;
    Plan *sub;
} Rule;

struct Plan {
    Py_ssize_t nslots;
    Py_ssize_t text_slot; /* -1: the element's own text is not read */
    int strict;           /* unknown child element: not handled (1) or skipped (0) */
    Py_ssize_t nrules;
    Rule *rules;
};

typedef struct {
    PyObject_HEAD
    Plan *plan;
    char *namespace; /* NULL: elements without namespace */
} PlanObject;

static PyTypeObject *element_type = NULL; /* lxml.etree._Element */

static void plan_free(Plan *plan) {
    if (plan == NULL) return;
    for (Py_ssize_t i = 0; i < plan->nrules; i++) {
        PyMem_Free(plan->rules[i].name);
        plan_free(plan->rules[i].sub);
    }
    PyMem_Free(plan->rules);
    PyMem_Free(plan);
}

static Plan *plan_build(PyObject *spec, int depth) {
    if (depth > 32) {
        PyErr_SetString(PyExc_ValueError, "plan nested too deeply");
        return NULL;
    }
    Py_ssize_t nslots, text_slot;
    int strict;
    PyObject *rules;
    if (!PyArg_ParseTuple(spec, "nnpO!", &nslots, &text_slot, &strict, &PyTuple_Type, &rules)) return NULL;
    Plan *plan = PyMem_Calloc(1, sizeof(Plan));
    if (plan == NULL) return (Plan *)PyErr_NoMemory();
    plan->nslots = nslots;
    plan->text_slot = text_slot;
    plan->strict = strict;
    plan->nrules = PyTuple_GET_SIZE(rules);
    plan->rules = PyMem_Calloc(plan->nrules ? plan->nrules : 1, sizeof(Rule));
    if (plan->rules == NULL) {
        PyMem_Free(plan);
        return (Plan *)PyErr_NoMemory();
    }
    if (nslots < 0 || text_slot >= nslots || text_slot < -1) {
        PyErr_SetString(PyExc_ValueError, "plan: bad slot numbers");
        plan->nrules = 0;
        plan_free(plan);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < plan->nrules; i++) {
        const char *name;
        Py_ssize_t name_len, slot;
        int kind;
        PyObject *sub;
        Rule *rule = &plan->rules[i];
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(rules, i), "y#inO", &name, &name_len, &kind, &slot, &sub)) goto fail;
        rule->name = PyMem_Malloc(name_len + 1);
        if (rule->name == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        memcpy(rule->name, name, name_len + 1);
        rule->kind = kind;
        rule->slot = slot;
        int needs_slot = kind != K_FALLBACK && kind != K_IGNORE;
        if (kind < K_TEXT || kind > K_LINE || (needs_slot && (slot < 0 || slot >= nslots))) {
            PyErr_Format(PyExc_ValueError, "plan: bad rule for %s", name);
            goto fail;
        }
        if ((kind == K_LINE) != (strcmp(name, "#line") == 0)) {
            PyErr_Format(PyExc_ValueError, "plan: the line rule (only) is named #line: %s", name);
            goto fail;
        }
        if ((kind == K_ATTR) != (name[0] == '@')) {
            PyErr_Format(PyExc_ValueError, "plan: attribute rules (only) start with '@': %s", name);
            goto fail;
        }
        if (kind == K_NODE || kind == K_GROUP) {
            if (sub == Py_None) {
                PyErr_Format(PyExc_ValueError, "plan: %s needs a sub-plan", name);
                goto fail;
            }
            rule->sub = plan_build(sub, depth + 1);
            if (rule->sub == NULL) goto fail;
        }
    }
    return plan;
fail:
    plan_free(plan);
    return NULL;
}

/* ------------------------------------------------------------------------------------ */

typedef struct {
    const char *namespace;
    size_t max_text_bytes;
} Walk;

/* 1: handled; 0: not handled (caller returns None); -1: Python error */

/* libxml2's xmlGetLineNo (what lxml's sourceline returns), from the node structures:
 * a line over 65534 is stored as 65535 and recovered from the first text child (whose
 * psvi holds the line with XML_PARSE_BIG_LINES), else from the next node or the parent. */
static long node_line(const xmlNode *node, int depth) {
    if (node == NULL || depth > 5) return -1;
    if (node->type != XML_ELEMENT_NODE && node->type != XML_TEXT_NODE && node->type != XML_COMMENT_NODE &&
        node->type != XML_PI_NODE)
        return -1;
    if (node->line != 65535) return (long)node->line;
    if (node->type == XML_TEXT_NODE && node->psvi != NULL) return (long)(ptrdiff_t)node->psvi;
    if (node->type == XML_ELEMENT_NODE && node->children != NULL) return node_line(node->children, depth + 1);
    if (node->next != NULL) return node_line(node->next, depth + 1);
    if (node->parent != NULL && node->parent->type == XML_ELEMENT_NODE) return node_line(node->parent, depth + 1);
    return -1;
}

static int is_text(xmlNode *node) {
    return node != NULL && (node->type == XML_TEXT_NODE || node->type == XML_CDATA_SECTION_NODE);
}

/* The element's .text as lxml gives it: the run of text/CDATA children before the first
 * other node; None when there is none. */
static int element_text(const Walk *walk, xmlNode *element, PyObject **out) {
    xmlNode *first = element->children;
    *out = NULL;
    if (!is_text(first)) {
        Py_INCREF(Py_None);
        *out = Py_None;
        return 1;
    }
    size_t total = 0;
    int count = 0;
    for (xmlNode *node = first; is_text(node); node = node->next) {
        total += node->content ? strlen((const char *)node->content) : 0;
        count++;
    }
    if (total > walk->max_text_bytes) return 0;
    if (count == 1) {
        const char *text = first->content ? (const char *)first->content : "";
        *out = PyUnicode_DecodeUTF8(text, (Py_ssize_t)total, "strict");
        return *out == NULL ? -1 : 1;
    }
    char *buffer = PyMem_Malloc(total + 1);
    if (buffer == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    size_t at = 0;
    for (xmlNode *node = first; is_text(node); node = node->next) {
        if (node->content) {
            size_t len = strlen((const char *)node->content);
            memcpy(buffer + at, node->content, len);
            at += len;
        }
    }
    *out = PyUnicode_DecodeUTF8(buffer, (Py_ssize_t)at, "strict");
    PyMem_Free(buffer);
    return *out == NULL ? -1 : 1;
}

static int attribute_value(const Walk *walk, xmlNode *element, const char *name, PyObject **out) {
    *out = NULL;
    for (xmlAttr *attr = element->properties; attr != NULL; attr = attr->next) {
        if (attr->ns != NULL || strcmp((const char *)attr->name, name) != 0) continue;
        xmlNode *value = attr->children;
        if (value == NULL) {
            *out = PyUnicode_FromStringAndSize("", 0);
            return *out == NULL ? -1 : 1;
        }
        if (value->type != XML_TEXT_NODE || value->next != NULL || value->content == NULL) return 0;
        size_t len = strlen((const char *)value->content);
        if (len > walk->max_text_bytes) return 0;
        *out = PyUnicode_DecodeUTF8((const char *)value->content, (Py_ssize_t)len, "strict");
        return *out == NULL ? -1 : 1;
    }
    Py_INCREF(Py_None);
    *out = Py_None;
    return 1;
}

static int same_namespace(const Walk *walk, xmlNode *node) {
    if (walk->namespace == NULL) return node->ns == NULL;
    return node->ns != NULL && node->ns->href != NULL &&
           strcmp((const char *)node->ns->href, walk->namespace) == 0;
}

static int fill(const Walk *walk, const Plan *plan, xmlNode *element, PyObject *record, int depth);

static PyObject *new_record(const Plan *plan) {
    PyObject *record = PyList_New(plan->nslots);
    if (record == NULL) return NULL;
    for (Py_ssize_t i = 0; i < plan->nslots; i++) {
        Py_INCREF(Py_None);
        PyList_SET_ITEM(record, i, Py_None);
    }
    return record;
}

/* Append to the list in slot, creating it on first use. Steals item. */
static int append_to_slot(PyObject *record, Py_ssize_t slot, PyObject *item) {
    PyObject *list = PyList_GET_ITEM(record, slot);
    if (list == Py_None) {
        list = PyList_New(0);
        if (list == NULL) {
            Py_DECREF(item);
            return -1;
        }
        PyList_SetItem(record, slot, list); /* steals list, drops None */
    }
    int status = PyList_Append(list, item);
    Py_DECREF(item);
    return status == 0 ? 1 : -1;
}

static int apply_rule(const Walk *walk, const Rule *rule, xmlNode *child, PyObject *record, int depth) {
    PyObject *value = NULL;
    int status;
    switch (rule->kind) {
    case K_IGNORE:
        return 1;
    case K_FALLBACK:
        return 0;
    case K_TEXT:
        if (PyList_GET_ITEM(record, rule->slot) != Py_None) return 0; /* second occurrence */
        status = element_text(walk, child, &value);
        if (status != 1) return status;
        if (value == Py_None) {
            /* Present without text: "" (lxml gives None), so that the slot tells present
             * from absent and a second occurrence is seen; callers read "" as no text. */
            Py_DECREF(value);
            value = PyUnicode_FromStringAndSize("", 0);
            if (value == NULL) return -1;
        }
        PyList_SetItem(record, rule->slot, value);
        return 1;
    case K_TEXT_LIST:
        status = element_text(walk, child, &value);
        if (status != 1) return status;
        return append_to_slot(record, rule->slot, value);
    case K_NODE:
    case K_GROUP: {
        if (rule->kind == K_NODE && PyList_GET_ITEM(record, rule->slot) != Py_None) return 0;
        PyObject *sub = new_record(rule->sub);
        if (sub == NULL) return -1;
        status = fill(walk, rule->sub, child, sub, depth + 1);
        if (status != 1) {
            Py_DECREF(sub);
            return status;
        }
        if (rule->kind == K_NODE) {
            PyList_SetItem(record, rule->slot, sub);
            return 1;
        }
        return append_to_slot(record, rule->slot, sub);
    }
    default:
        return 0;
    }
}

static int fill(const Walk *walk, const Plan *plan, xmlNode *element, PyObject *record, int depth) {
    if (depth > 64) return 0;
    int status;
    if (plan->text_slot >= 0) {
        PyObject *text;
        status = element_text(walk, element, &text);
        if (status != 1) return status;
        PyList_SetItem(record, plan->text_slot, text);
    }
    for (Py_ssize_t i = 0; i < plan->nrules; i++) {
        const Rule *rule = &plan->rules[i];
        PyObject *value;
        if (rule->kind == K_LINE) {
            long line = node_line(element, 0);
            if (line < 0) return 0;
            value = PyLong_FromLong(line);
            if (value == NULL) return -1;
            PyList_SetItem(record, rule->slot, value);
            continue;
        }
        if (rule->kind != K_ATTR) continue;
        status = attribute_value(walk, element, rule->name + 1, &value);
        if (status != 1) return status;
        PyList_SetItem(record, rule->slot, value);
    }
    for (xmlNode *child = element->children; child != NULL; child = child->next) {
        switch (child->type) {
        case XML_ELEMENT_NODE:
            break;
        case XML_TEXT_NODE:
        case XML_CDATA_SECTION_NODE:
        case XML_COMMENT_NODE:
        case XML_PI_NODE:
            continue;
        default:
            return 0; /* entity references, XInclude markers...: the Python reader */
        }
        if (!same_namespace(walk, child)) return 0;
        const char *name = (const char *)child->name;
        const Rule *found = NULL;
        for (Py_ssize_t i = 0; i < plan->nrules; i++) {
            const char *candidate = plan->rules[i].name; /* "@..." and "#line" never match a name */
            if (candidate[0] == name[0] && strcmp(candidate, name) == 0 && plan->rules[i].kind != K_ATTR &&
                plan->rules[i].kind != K_LINE) {
                found = &plan->rules[i];
                break;
            }
        }
        if (found == NULL) {
            if (plan->strict) return 0;
            continue;
        }
        status = apply_rule(walk, found, child, record, depth);
        if (status != 1) return status;
    }
    return 1;
}

/* ------------------------------------------------------------------------------------ */

static void plan_dealloc(PlanObject *self) {
    plan_free(self->plan);
    PyMem_Free(self->namespace);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject PlanType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "formats.camt._extract.Plan",
    .tp_basicsize = sizeof(PlanObject),
    .tp_dealloc = (destructor)plan_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A compiled extraction plan (see compile()).",
};

static PyObject *compile_plan(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *spec;
    const char *namespace;
    if (!PyArg_ParseTuple(args, "Oz", &spec, &namespace)) return NULL;
    if (!PyTuple_Check(spec)) {
        PyErr_SetString(PyExc_TypeError, "plan must be a tuple");
        return NULL;
    }
    Plan *plan = plan_build(spec, 0);
    if (plan == NULL) return NULL;
    PlanObject *self = PyObject_New(PlanObject, &PlanType);
    if (self == NULL) {
        plan_free(plan);
        return NULL;
    }
    self->plan = plan;
    self->namespace = NULL;
    if (namespace != NULL) {
        size_t len = strlen(namespace);
        self->namespace = PyMem_Malloc(len + 1);
        if (self->namespace == NULL) {
            Py_DECREF(self);
            return PyErr_NoMemory();
        }
        memcpy(self->namespace, namespace, len + 1);
    }
    return (PyObject *)self;
}

static PyObject *extract(PyObject *Py_UNUSED(module), PyObject *args) {
    PlanObject *plan;
    PyObject *element;
    Py_ssize_t max_text_bytes;
    if (!PyArg_ParseTuple(args, "O!On", &PlanType, &plan, &element, &max_text_bytes)) return NULL;
    if (element_type == NULL || !PyObject_TypeCheck(element, element_type)) {
        PyErr_SetString(PyExc_TypeError, "extract() needs an lxml.etree._Element");
        return NULL;
    }
    xmlNode *node = ((struct LxmlElement *)element)->_c_node;
    if (node == NULL || node->type != XML_ELEMENT_NODE) Py_RETURN_NONE;
    Walk walk = {plan->namespace, max_text_bytes < 0 ? 0 : (size_t)max_text_bytes};
    PyObject *record = new_record(plan->plan);
    if (record == NULL) return NULL;
    int status = fill(&walk, plan->plan, node, record, 0);
    if (status == 1) return record;
    Py_DECREF(record);
    if (status < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *node_facts(PyObject *Py_UNUSED(module), PyObject *element) {
    /* For the layout self-check: (local name, namespace href or None, line) of the node. */
    if (element_type == NULL || !PyObject_TypeCheck(element, element_type)) {
        PyErr_SetString(PyExc_TypeError, "node_facts() needs an lxml.etree._Element");
        return NULL;
    }
    xmlNode *node = ((struct LxmlElement *)element)->_c_node;
    if (node == NULL || node->type != XML_ELEMENT_NODE || node->name == NULL) Py_RETURN_NONE;
    const char *href = node->ns != NULL ? (const char *)node->ns->href : NULL;
    return Py_BuildValue("(szl)", (const char *)node->name, href, node_line(node, 0));
}


/* ------------------------------------------------------------------------------------ *
 * The entry builder: the lists extract() fills, made into the records, in C.
 *
 * A line-by-line translation of FastEntryReader in formats/camt/fastpath.py (which stays
 * the readable reference; the tests compare the two and the Python reader). Amounts,
 * dates and creditor reference kinds are read here for ASCII texts and called back to
 * the Python functions of the kit otherwise (and date-times always), as is the
 * counterparty rule; parties and bank codes are interned here; the rest is structure
 * walking, strip() and record building.
 * Slot numbers follow the plans in fastpath.py, in order.
 * ------------------------------------------------------------------------------------ */

typedef struct {
    PyObject *cls;
    PyObject *descriptors; /* tuple: the member descriptor of each field, in field order */
} Maker;

enum { M_ENTRY, M_TRANSACTION, M_REFS, M_PARTIES, M_ORIGIN, M_DETAILS, M_BATCH, M_AMOUNT, M_PARTY,
       M_CODE, M_REFERENCE, M_COUNT };
static const char *maker_names[M_COUNT] = {"Entry",  "Transaction", "TransactionRefs", "RelatedParties",
                                           "Origin", "AmountDetails", "Batch", "Amount", "Party",
                                           "BankTransactionCode", "CreditorReference"};
#define INTERN_MAX 4096 /* as formats.camt.build.Interner */

typedef struct {
    PyObject_HEAD
    PlanObject *plan;
    Py_ssize_t max_text_bytes;
    PyObject *source;
    Maker makers[M_COUNT];
    PyObject *amount, *date, *datetime, *creditor_reference, *counterparty;
    PyObject *credit, *debit, *statuses, *booleans;
    PyObject *source_tx, *source_details, *source_entry, *no_refs, *no_parties, *empty;
    PyObject *decimal;                             /* decimal.Decimal */
    PyObject *kind_rf, *kind_qrr, *kind_scor, *kind_code, *kind_proprietary, *kind_untyped;
    PyObject *parties_seen, *codes_seen;           /* interned Party / BankTransactionCode by fields */
} BuilderObject;

/* NULL without an exception set: "not handled" (the Python reader reads the entry). */
#define NOT_HANDLED NULL

static PyObject *make(const Maker *maker, PyObject *const *values, Py_ssize_t count) {
    if (PyTuple_GET_SIZE(maker->descriptors) != count) {
        PyErr_SetString(PyExc_RuntimeError, "record constructor: field count mismatch");
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)maker->cls;
    PyObject *obj = type->tp_alloc(type, 0);
    if (obj == NULL) return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *descr = PyTuple_GET_ITEM(maker->descriptors, i);
        if (Py_TYPE(descr)->tp_descr_set(descr, obj, values[i]) < 0) {
            Py_DECREF(obj);
            return NULL;
        }
    }
    return obj;
}

static PyObject *item(PyObject *list, Py_ssize_t index) { return PyList_GET_ITEM(list, index); }

/* str.strip(); None when absent or blank. New reference. */
static PyObject *text_of(PyObject *value) {
    if (value == Py_None) Py_RETURN_NONE;
    Py_ssize_t length = PyUnicode_GET_LENGTH(value);
    int kind = PyUnicode_KIND(value);
    const void *data = PyUnicode_DATA(value);
    Py_ssize_t start = 0, end = length;
    while (start < end && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, start))) start++;
    while (end > start && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, end - 1))) end--;
    if (start == end) Py_RETURN_NONE;
    if (start == 0 && end == length) {
        Py_INCREF(value);
        return value;
    }
    return PyUnicode_Substring(value, start, end);
}

static int equals_ascii(PyObject *text, const char *expected) {
    return PyUnicode_CompareWithASCIIString(text, expected) == 0;
}

/* Like text_of; the sentinels NOTPROVIDED / NONREF (any case) read as None. */
static PyObject *reference_of(PyObject *value) {
    PyObject *text = text_of(value);
    if (text == NULL || text == Py_None) return text;
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    if (PyUnicode_IS_ASCII(text) && length != 6 && length != 11) return text; /* cannot be a sentinel */
    PyObject *upper = PyObject_CallMethod(text, "upper", NULL);
    if (upper == NULL) {
        Py_DECREF(text);
        return NULL;
    }
    int sentinel = equals_ascii(upper, "NOTPROVIDED") || equals_ascii(upper, "NONREF");
    Py_DECREF(upper);
    if (sentinel) {
        Py_DECREF(text);
        Py_RETURN_NONE;
    }
    return text;
}

/* The table's value for the stripped text: borrowed, or NULL (not handled; or an error). */
static PyObject *code_of(PyObject *table, PyObject *text) {
    PyObject *stripped = text_of(text);
    if (stripped == NULL) return NULL;
    PyObject *found = PyDict_GetItemWithError(table, stripped);
    Py_DECREF(stripped);
    return found;
}

/* Free text as written; None when blank. New reference. */
static PyObject *raw_of(PyObject *value) {
    if (value == Py_None) Py_RETURN_NONE;
    Py_ssize_t length = PyUnicode_GET_LENGTH(value);
    int kind = PyUnicode_KIND(value);
    const void *data = PyUnicode_DATA(value);
    for (Py_ssize_t i = 0; i < length; i++) {
        if (!Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i))) {
            Py_INCREF(value);
            return value;
        }
    }
    Py_RETURN_NONE;
}

/* A callback returning None for "not handled": NOT_HANDLED; an exception passes through. */
static PyObject *call_or_not_handled(PyObject *callable, PyObject *const *args, size_t count) {
    PyObject *result = PyObject_Vectorcall(callable, args, count, NULL);
    if (result == Py_None) {
        Py_DECREF(result);
        return NOT_HANDLED;
    }
    return result;
}


/* Equal parties and bank codes recur from entry to entry: made once, shared (bounded). */
static PyObject *interned(BuilderObject *b, PyObject *cache, int maker, PyObject *const *values, Py_ssize_t n) {
    PyObject *key = PyTuple_New(n);
    if (key == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_INCREF(values[i]);
        PyTuple_SET_ITEM(key, i, values[i]);
    }
    PyObject *found = PyDict_GetItemWithError(cache, key);
    if (found != NULL) {
        Py_DECREF(key);
        Py_INCREF(found);
        return found;
    }
    if (PyErr_Occurred()) {
        Py_DECREF(key);
        return NULL;
    }
    found = make(&b->makers[maker], values, n);
    if (found != NULL) {
        if (PyDict_GET_SIZE(cache) >= INTERN_MAX) PyDict_Clear(cache);
        if (PyDict_SetItem(cache, key, found) < 0) Py_CLEAR(found);
    }
    Py_DECREF(key);
    return found;
}

static int is_ascii_digit(Py_UCS1 c) { return c >= '0' && c <= '9'; }

/* An Amt (formats.amount.parse_decimal_amount and the Ccy check) for ASCII texts; anything
 * else goes to the Python function. New reference, or NOT_HANDLED. */
static PyObject *amount_in_c(BuilderObject *b, PyObject *text, PyObject *currency_text) {
    if (text == Py_None || PyUnicode_GET_LENGTH(text) > 64) return NOT_HANDLED;
    if (!PyUnicode_IS_ASCII(text) || (currency_text != Py_None && !PyUnicode_IS_ASCII(currency_text))) {
        PyObject *args[2] = {text, currency_text};
        return call_or_not_handled(b->amount, args, 2);
    }
    const Py_UCS1 *data = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t start = 0, end = PyUnicode_GET_LENGTH(text);
    while (start < end && Py_UNICODE_ISSPACE(data[start])) start++;
    while (end > start && Py_UNICODE_ISSPACE(data[end - 1])) end--;
    if (start < end && data[start] == '+') start++;
    Py_ssize_t whole_start = start, at = start;
    while (at < end && is_ascii_digit(data[at])) at++;
    Py_ssize_t whole_end = at, fraction_start = at, fraction_end = at;
    if (at < end && data[at] == '.') {
        fraction_start = ++at;
        while (at < end && is_ascii_digit(data[at])) at++;
        fraction_end = at;
    }
    if (at != end || (whole_end == whole_start && fraction_end == fraction_start)) return NOT_HANDLED;
    if (whole_end == whole_start && fraction_start == whole_end) return NOT_HANDLED;
    while (whole_start < whole_end && data[whole_start] == '0') whole_start++; /* lstrip("0") */
    Py_ssize_t whole_digits = whole_end - whole_start, fraction_digits = fraction_end - fraction_start;
    if (fraction_digits > 5 || (whole_digits ? whole_digits : 1) + fraction_digits > 18) return NOT_HANDLED;
    char buffer[40];
    Py_ssize_t n = 0;
    if (whole_digits == 0) buffer[n++] = '0';
    for (Py_ssize_t i = whole_start; i < whole_end; i++) buffer[n++] = (char)data[i];
    if (fraction_digits) {
        buffer[n++] = '.';
        for (Py_ssize_t i = fraction_start; i < fraction_end; i++) buffer[n++] = (char)data[i];
    }
    PyObject *currency = currency_text == Py_None ? PyUnicode_FromString("") : text_of(currency_text);
    if (currency == NULL) return NULL;
    if (currency == Py_None || PyUnicode_GET_LENGTH(currency) != 3) {
        Py_DECREF(currency);
        return NOT_HANDLED;
    }
    const Py_UCS1 *code = PyUnicode_1BYTE_DATA(currency);
    for (int i = 0; i < 3; i++) {
        if (code[i] < 'A' || code[i] > 'Z') {
            Py_DECREF(currency);
            return NOT_HANDLED;
        }
    }
    PyObject *digits = PyUnicode_FromStringAndSize(buffer, n);
    PyObject *value = digits ? PyObject_CallOneArg(b->decimal, digits) : NULL;
    Py_XDECREF(digits);
    if (value == NULL) {
        Py_DECREF(currency);
        return NULL;
    }
    PyObject *values[2] = {value, currency};
    PyObject *amount = make(&b->makers[M_AMOUNT], values, 2);
    Py_DECREF(value);
    Py_DECREF(currency);
    return amount;
}

/* xs:date "YYYY-MM-DD" in C; every other form (time zone, week dates...) through Python. */
static PyObject *date_in_c(BuilderObject *b, PyObject *text) {
    if (PyUnicode_IS_ASCII(text) && PyUnicode_GET_LENGTH(text) == 10) {
        const Py_UCS1 *d = PyUnicode_1BYTE_DATA(text);
        int shape = d[4] == '-' && d[7] == '-';
        for (int i = 0; shape && i < 10; i++)
            if (i != 4 && i != 7) shape = is_ascii_digit(d[i]);
        if (shape) {
            int year = (d[0] - '0') * 1000 + (d[1] - '0') * 100 + (d[2] - '0') * 10 + (d[3] - '0');
            int month = (d[5] - '0') * 10 + (d[6] - '0');
            int day = (d[8] - '0') * 10 + (d[9] - '0');
            PyObject *found = PyDate_FromDate(year, month, day);
            if (found == NULL && PyErr_ExceptionMatches(PyExc_ValueError)) {
                PyErr_Clear();
                return NOT_HANDLED; /* 2024-02-30: the Python reader reports it */
            }
            return found;
        }
    }
    return call_or_not_handled(b->date, &text, 1);
}

/* ISO 7064 mod 97-10 of an RF reference, on its compact upper-case ASCII form. */
static int rf_valid(const char *compact, Py_ssize_t n) {
    if (n < 5 || n > 25 || compact[0] != 'R' || compact[1] != 'F' || !is_ascii_digit(compact[2]) ||
        !is_ascii_digit(compact[3]))
        return 0;
    for (Py_ssize_t i = 4; i < n; i++)
        if (!is_ascii_digit(compact[i]) && !(compact[i] >= 'A' && compact[i] <= 'Z')) return 0;
    int remainder = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        char c = compact[(k + 4) % n];
        if (is_ascii_digit(c)) {
            remainder = (remainder * 10 + (c - '0')) % 97;
        } else {
            int v = c - 'A' + 10;
            remainder = (remainder * 100 + v) % 97;
        }
    }
    return remainder == 1;
}

static int qr_valid(const char *compact, Py_ssize_t n) {
    static const int table[10] = {0, 9, 4, 6, 8, 2, 7, 1, 3, 5};
    if (n != 27) return 0;
    for (Py_ssize_t i = 0; i < 27; i++)
        if (!is_ascii_digit(compact[i])) return 0;
    int carry = 0;
    for (Py_ssize_t i = 0; i < 26; i++) carry = table[(carry + compact[i] - '0') % 10];
    return (10 - carry) % 10 == compact[26] - '0';
}

/* formats.camt.leaves.reference_kind + make_reference, for ASCII texts; else through Python.
 * NOT_HANDLED when check digits fail (a warning the Python reader reports with its place). */
static PyObject *reference_in_c(BuilderObject *b, PyObject *value, PyObject *code, PyObject *proprietary,
                                PyObject *issuer) {
    if (!PyUnicode_IS_ASCII(value) || (proprietary != Py_None && !PyUnicode_IS_ASCII(proprietary)) ||
        PyUnicode_GET_LENGTH(value) > 200) {
        PyObject *args[4] = {value, code, proprietary, issuer};
        return call_or_not_handled(b->creditor_reference, args, 4);
    }
    char compact[201];
    Py_ssize_t n = 0;
    const Py_UCS1 *v = PyUnicode_1BYTE_DATA(value);
    for (Py_ssize_t i = 0; i < PyUnicode_GET_LENGTH(value); i++) {
        Py_UCS1 c = v[i];
        if (c == ' ') continue;
        compact[n++] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
    }
    compact[n] = 0;
    int code_is_none = code == Py_None;
    int code_is_scor = !code_is_none && equals_ascii(code, "SCOR");
    PyObject *kind;
    PyObject *valid = Py_None;
    if (n >= 2 && compact[0] == 'R' && compact[1] == 'F' && (code_is_none || code_is_scor)) {
        kind = b->kind_rf;
        valid = rf_valid(compact, n) ? Py_True : Py_False;
    } else {
        int qr = 0;
        if (proprietary != Py_None) { /* (proprietary).upper().split(" ", 1)[0] in QRR, ESR, ISR */
            const Py_UCS1 *p = PyUnicode_1BYTE_DATA(proprietary);
            Py_ssize_t len = PyUnicode_GET_LENGTH(proprietary), word = 0;
            while (word < len && p[word] != ' ') word++;
            if (word == 3) {
                char w[4] = {0};
                for (int i = 0; i < 3; i++) w[i] = (char)(p[i] >= 'a' && p[i] <= 'z' ? p[i] - 32 : p[i]);
                qr = strcmp(w, "QRR") == 0 || strcmp(w, "ESR") == 0 || strcmp(w, "ISR") == 0;
            }
        } else if (code_is_none && n == 27) {
            qr = 1;
            for (Py_ssize_t i = 0; i < 27; i++) qr = qr && is_ascii_digit(compact[i]);
        }
        if (qr) {
            kind = b->kind_qrr;
            valid = qr_valid(compact, n) ? Py_True : Py_False;
        } else if (code_is_scor) {
            kind = b->kind_scor;
        } else if (!code_is_none) {
            kind = b->kind_code;
        } else if (proprietary != Py_None) {
            kind = b->kind_proprietary;
        } else {
            kind = b->kind_untyped;
        }
    }
    if (valid == Py_False) return NOT_HANDLED;
    PyObject *values[5] = {value, kind, code != Py_None ? code : proprietary, issuer, valid};
    return make(&b->makers[M_REFERENCE], values, 5);
}

static PyObject *build_amount(BuilderObject *b, PyObject *record) {
    return amount_in_c(b, item(record, 0), item(record, 1));
}

static PyObject *build_indicator(BuilderObject *b, PyObject *text, int *ok) {
    /* Borrowed result (an enum member) or Py_None; *ok = 0 when not handled. */
    *ok = 1;
    if (text == Py_None) return Py_None;
    PyObject *stripped = text_of(text);
    if (stripped == NULL) {
        *ok = -1;
        return NULL;
    }
    PyObject *found = NULL;
    if (stripped != Py_None) {
        if (equals_ascii(stripped, "CRDT")) found = b->credit;
        else if (equals_ascii(stripped, "DBIT")) found = b->debit;
    }
    Py_DECREF(stripped);
    if (found == NULL) *ok = 0;
    return found;
}

static PyObject *build_details(BuilderObject *b, PyObject *record) {
    PyObject *values[4] = {Py_None, Py_None, Py_None, Py_None};
    PyObject *result = NULL;
    for (int i = 0; i < 3; i++) { /* InstdAmt, TxAmt, CntrValAmt */
        PyObject *part = item(record, i);
        if (part == Py_None) continue;
        PyObject *amt = item(part, 0);
        if (amt == Py_None) goto done; /* a part without its Amt */
        values[i] = build_amount(b, amt);
        if (values[i] == NULL) goto done;
    }
    result = make(&b->makers[M_DETAILS], values, 4);
done:
    for (int i = 0; i < 3; i++)
        if (values[i] != Py_None) Py_XDECREF(values[i]);
    return result;
}

/* (date, datetime) of a DateAndDateTimeChoice record into out[0..1]; 1 ok, 0 not handled, -1 error */
static int build_date_choice(BuilderObject *b, PyObject *record, PyObject **out) {
    out[0] = Py_None;
    out[1] = Py_None;
    Py_INCREF(Py_None);
    Py_INCREF(Py_None);
    if (record == Py_None) return 1;
    PyObject *day = item(record, 0), *stamp = item(record, 1);
    if (stamp != Py_None) {
        PyObject *moment = call_or_not_handled(b->datetime, &stamp, 1);
        if (moment == NULL) return PyErr_Occurred() ? -1 : 0;
        PyObject *as_date = PyObject_CallMethod(moment, "date", NULL);
        if (as_date == NULL) {
            Py_DECREF(moment);
            return -1;
        }
        Py_SETREF(out[0], as_date);
        Py_SETREF(out[1], moment);
        return 1;
    }
    if (day != Py_None) {
        PyObject *stripped = text_of(day);
        if (stripped == NULL) return -1;
        if (stripped == Py_None) {
            Py_DECREF(stripped);
            return 0;
        }
        PyObject *value = date_in_c(b, stripped);
        Py_DECREF(stripped);
        if (value == NULL) return PyErr_Occurred() ? -1 : 0;
        Py_SETREF(out[0], value);
        return 1;
    }
    return 0; /* neither Dt nor DtTm */
}

static PyObject *first_other_id(PyObject *others) {
    if (others == Py_None || PyList_GET_SIZE(others) == 0) Py_RETURN_NONE;
    return text_of(item(item(others, 0), 0));
}

static int build_account_ids(PyObject *record, PyObject **iban, PyObject **other) {
    *iban = *other = NULL;
    if (record == Py_None || item(record, 0) == Py_None) {
        Py_INCREF(Py_None);
        Py_INCREF(Py_None);
        *iban = *other = Py_None;
        return 1;
    }
    PyObject *ident = item(record, 0);
    *iban = text_of(item(ident, 0));
    if (*iban == NULL) return -1;
    *other = first_other_id(item(ident, 1));
    if (*other == NULL) {
        Py_CLEAR(*iban);
        return -1;
    }
    return 1;
}

static PyObject *build_agent_bic(PyObject *record) {
    if (record == Py_None || item(record, 0) == Py_None) Py_RETURN_NONE;
    PyObject *fin = item(record, 0);
    PyObject *bicfi = text_of(item(fin, 0));
    if (bicfi == NULL || bicfi != Py_None) return bicfi;
    Py_DECREF(bicfi);
    return text_of(item(fin, 1));
}

static PyObject *build_bank_tx_code(BuilderObject *b, PyObject *record) {
    if (record == Py_None) Py_RETURN_NONE;
    PyObject *values[5] = {NULL, NULL, NULL, NULL, NULL};
    PyObject *result = NULL;
    PyObject *domain = item(record, 0), *proprietary = item(record, 1);
    if (domain != Py_None) {
        if ((values[0] = text_of(item(domain, 0))) == NULL) goto done;
        PyObject *family = item(domain, 1);
        if (family != Py_None) {
            if ((values[1] = text_of(item(family, 0))) == NULL) goto done;
            if ((values[2] = text_of(item(family, 1))) == NULL) goto done;
        }
    }
    if (proprietary != Py_None) {
        if ((values[3] = text_of(item(proprietary, 0))) == NULL) goto done;
        if ((values[4] = text_of(item(proprietary, 1))) == NULL) goto done;
    }
    for (int i = 0; i < 5; i++)
        if (values[i] == NULL) {
            values[i] = Py_None;
            Py_INCREF(Py_None);
        }
    result = interned(b, b->codes_seen, M_CODE, values, 5);
done:
    for (int i = 0; i < 5; i++) Py_XDECREF(values[i]);
    return result;
}

static PyObject *build_party(BuilderObject *b, PyObject *record) {
    if (record == Py_None) Py_RETURN_NONE;
    PyObject *name = item(record, 0), *ident = item(record, 1), *address = item(record, 2);
    PyObject *wrapped = item(record, 3);
    if (wrapped != Py_None) { /* V8+: Party35Choice/Pty */
        name = item(wrapped, 0);
        ident = item(wrapped, 1);
        address = item(wrapped, 2);
    }
    PyObject *values[4] = {NULL, NULL, NULL, NULL};
    PyObject *result = NULL;
    if ((values[0] = text_of(name)) == NULL) goto done;
    values[1] = Py_None;
    Py_INCREF(Py_None);
    if (ident != Py_None) {
        PyObject *organisation = item(ident, 0), *private = item(ident, 1);
        if (organisation != Py_None) {
            PyObject *found = text_of(item(organisation, 0));
            if (found == Py_None) {
                Py_DECREF(found);
                found = text_of(item(organisation, 1));
            }
            if (found == Py_None) {
                Py_DECREF(found);
                found = first_other_id(item(organisation, 2));
            }
            if (found == NULL) goto done;
            Py_SETREF(values[1], found);
        } else if (private != Py_None) {
            PyObject *found = first_other_id(item(private, 0));
            if (found == NULL) goto done;
            Py_SETREF(values[1], found);
        }
    }
    if (address != Py_None) {
        if ((values[2] = text_of(item(address, 0))) == NULL) goto done;
        PyObject *lines = item(address, 1);
        if (lines != Py_None && PyList_GET_SIZE(lines) > 0) {
            PyObject *kept = PyList_New(0);
            if (kept == NULL) goto done;
            for (Py_ssize_t i = 0; i < PyList_GET_SIZE(lines); i++) {
                PyObject *line = item(lines, i);
                PyObject *raw = raw_of(line);
                if (raw == NULL) {
                    Py_DECREF(kept);
                    goto done;
                }
                int status = raw == Py_None ? 0 : PyList_Append(kept, raw);
                Py_DECREF(raw);
                if (status < 0) {
                    Py_DECREF(kept);
                    goto done;
                }
            }
            values[3] = PyList_AsTuple(kept);
            Py_DECREF(kept);
            if (values[3] == NULL) goto done;
        }
    } else {
        values[2] = Py_None;
        Py_INCREF(Py_None);
    }
    if (values[3] == NULL) {
        values[3] = b->empty;
        Py_INCREF(b->empty);
    }
    result = interned(b, b->parties_seen, M_PARTY, values, 4);
done:
    for (int i = 0; i < 4; i++) Py_XDECREF(values[i]);
    return result;
}

static PyObject *build_batch(BuilderObject *b, PyObject *record, Py_ssize_t transaction_count) {
    PyObject *values[5] = {NULL, NULL, NULL, NULL, NULL};
    PyObject *result = NULL;
    PyObject *count_text = text_of(item(record, 2));
    if (count_text == NULL) return NULL;
    if (count_text == Py_None) {
        values[2] = count_text;
    } else {
        Py_ssize_t length = PyUnicode_GET_LENGTH(count_text);
        int digits = PyUnicode_IS_ASCII(count_text) && length <= 15;
        const Py_UCS1 *data = PyUnicode_1BYTE_DATA(count_text);
        for (Py_ssize_t i = 0; digits && i < length; i++) digits = data[i] >= '0' && data[i] <= '9';
        if (!digits) {
            Py_DECREF(count_text);
            return NOT_HANDLED;
        }
        values[2] = PyLong_FromUnicodeObject(count_text, 10);
        Py_DECREF(count_text);
        if (values[2] == NULL) return NULL;
        if (transaction_count && PyLong_AsSsize_t(values[2]) != transaction_count) goto done; /* CAMT-W004 */
    }
    if ((values[0] = reference_of(item(record, 0))) == NULL) goto done;
    if ((values[1] = reference_of(item(record, 1))) == NULL) goto done;
    if (item(record, 3) != Py_None) {
        if ((values[3] = build_amount(b, item(record, 3))) == NULL) goto done;
    } else {
        values[3] = Py_None;
        Py_INCREF(Py_None);
    }
    int ok;
    PyObject *indicator = build_indicator(b, item(record, 4), &ok);
    if (ok != 1) goto done;
    values[4] = indicator;
    Py_INCREF(indicator);
    result = make(&b->makers[M_BATCH], values, 5);
done:
    for (int i = 0; i < 5; i++) Py_XDECREF(values[i]);
    return result;
}

static PyObject *make_origin(BuilderObject *b, PyObject *line, PyObject *path) {
    PyObject *values[3] = {b->source, line, path};
    return make(&b->makers[M_ORIGIN], values, 3);
}

/* Append the texts of a list that are not blank. */
static int extend_raw(PyObject *target, PyObject *texts) {
    if (texts == Py_None) return 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(texts); i++) {
        PyObject *raw = raw_of(item(texts, i));
        if (raw == NULL) return -1;
        int status = raw == Py_None ? 0 : PyList_Append(target, raw);
        Py_DECREF(raw);
        if (status < 0) return -1;
    }
    return 0;
}

static PyObject *tuple_or_empty(BuilderObject *b, PyObject *list) {
    if (PyList_GET_SIZE(list) == 0) {
        Py_INCREF(b->empty);
        return b->empty;
    }
    return PyList_AsTuple(list);
}

enum { T_LINE, T_AMT, T_IND, T_DETAILS, T_REFS, T_PARTIES, T_AGENTS, T_RMT, T_PURP, T_CODE, T_ADDTL };
enum { TX_FIELDS = 19 };

static PyObject *build_transaction(BuilderObject *b, PyObject *record, Py_ssize_t index, PyObject *path,
                                   PyObject *entry_amount, PyObject *entry_indicator, int reversal) {
    PyObject *v[TX_FIELDS] = {NULL};
    PyObject *result = NULL, *tx_amount = NULL, *details = NULL, *parties = NULL, *pair = NULL;
    PyObject *unstructured = NULL, *references = NULL, *additional = NULL, *line = NULL;
    int ok;

    if (item(record, T_AMT) != Py_None && (tx_amount = build_amount(b, item(record, T_AMT))) == NULL) goto done;
    PyObject *tx_indicator = build_indicator(b, item(record, T_IND), &ok);
    if (ok != 1) goto done;
    if (item(record, T_DETAILS) != Py_None && (details = build_details(b, item(record, T_DETAILS))) == NULL)
        goto done;
    PyObject *amount = Py_None, *amount_source = Py_None;
    PyObject *details_tx = NULL;
    if (details != NULL) {
        details_tx = PyObject_GetAttrString(details, "transaction");
        if (details_tx == NULL) goto done;
    }
    if (tx_amount != NULL) {
        amount = tx_amount;
        amount_source = b->source_tx;
    } else if (details_tx != NULL && details_tx != Py_None) {
        amount = details_tx;
        amount_source = b->source_details;
    } else if (entry_amount != Py_None) {
        amount = entry_amount;
        amount_source = b->source_entry;
    }
    v[0] = PyLong_FromSsize_t(index);
    v[1] = amount;
    Py_INCREF(amount);
    Py_XDECREF(details_tx);
    v[2] = amount_source;
    Py_INCREF(amount_source);
    v[3] = tx_indicator;
    Py_INCREF(tx_indicator);
    v[4] = details != NULL ? details : Py_None;
    Py_INCREF(v[4]);
    if (details != NULL) {
        if ((v[5] = PyObject_GetAttrString(details, "instructed")) == NULL) goto done;
    } else {
        v[5] = Py_None;
        Py_INCREF(Py_None);
    }
    PyObject *refs = item(record, T_REFS);
    if (refs != Py_None) {
        PyObject *texts[8] = {NULL};
        int failed = 0;
        for (int i = 0; i < 8; i++)
            if ((texts[i] = reference_of(item(refs, i))) == NULL) failed = 1;
        if (!failed) v[6] = make(&b->makers[M_REFS], texts, 8);
        for (int i = 0; i < 8; i++) Py_XDECREF(texts[i]);
        if (v[6] == NULL) goto done;
    } else {
        v[6] = b->no_refs;
        Py_INCREF(v[6]);
    }
    if ((v[7] = build_bank_tx_code(b, item(record, T_CODE))) == NULL) goto done;
    PyObject *parties_record = item(record, T_PARTIES), *agents_record = item(record, T_AGENTS);
    if (parties_record != Py_None || agents_record != Py_None) {
        PyObject *p[10] = {NULL};
        PyObject *none6[6] = {Py_None, Py_None, Py_None, Py_None, Py_None, Py_None};
        PyObject **pr = none6;
        PyObject *tmp[6];
        if (parties_record != Py_None) {
            for (int i = 0; i < 6; i++) tmp[i] = item(parties_record, i);
            pr = tmp;
        }
        PyObject *debtor_agent = agents_record != Py_None ? item(agents_record, 0) : Py_None;
        PyObject *creditor_agent = agents_record != Py_None ? item(agents_record, 1) : Py_None;
        int failed = 0;
        if ((p[0] = build_party(b, pr[0])) == NULL) failed = 1;
        if (!failed && build_account_ids(pr[1], &p[1], &p[2]) < 0) failed = 1;
        if (!failed && (p[3] = build_party(b, pr[2])) == NULL) failed = 1;
        if (!failed && (p[4] = build_party(b, pr[3])) == NULL) failed = 1;
        if (!failed && build_account_ids(pr[4], &p[5], &p[6]) < 0) failed = 1;
        if (!failed && (p[7] = build_party(b, pr[5])) == NULL) failed = 1;
        if (!failed && (p[8] = build_agent_bic(debtor_agent)) == NULL) failed = 1;
        if (!failed && (p[9] = build_agent_bic(creditor_agent)) == NULL) failed = 1;
        if (!failed) parties = make(&b->makers[M_PARTIES], p, 10);
        for (int i = 0; i < 10; i++) Py_XDECREF(p[i]);
        if (parties == NULL) goto done;
    } else {
        parties = b->no_parties;
        Py_INCREF(parties);
    }
    v[8] = parties;
    Py_INCREF(parties);
    {
        PyObject *direction = tx_indicator != Py_None ? tx_indicator : entry_indicator;
        PyObject *args[3] = {parties, direction, reversal ? Py_True : Py_False};
        pair = PyObject_Vectorcall(b->counterparty, args, 3, NULL);
        if (pair == NULL) goto done;
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "counterparty() must return a pair");
            goto done;
        }
        v[9] = PyTuple_GET_ITEM(pair, 0);
        v[10] = PyTuple_GET_ITEM(pair, 1);
        Py_INCREF(v[9]);
        Py_INCREF(v[10]);
    }
    if ((unstructured = PyList_New(0)) == NULL || (references = PyList_New(0)) == NULL ||
        (additional = PyList_New(0)) == NULL)
        goto done;
    PyObject *remittance = item(record, T_RMT);
    if (remittance != Py_None) {
        if (extend_raw(unstructured, item(remittance, 0)) < 0) goto done;
        PyObject *structured = item(remittance, 1);
        if (structured != Py_None) {
            for (Py_ssize_t g = 0; g < PyList_GET_SIZE(structured); g++) {
                PyObject *group = item(structured, g);
                PyObject *refs_list = item(group, 0);
                if (refs_list != Py_None) {
                    for (Py_ssize_t r = 0; r < PyList_GET_SIZE(refs_list); r++) {
                        PyObject *ref_record = item(refs_list, r);
                        PyObject *type_record = item(ref_record, 0);
                        PyObject *value = text_of(item(ref_record, 1));
                        if (value == NULL) goto done;
                        if (value == Py_None) {
                            Py_DECREF(value);
                            continue;
                        }
                        PyObject *args[4] = {value, Py_None, Py_None, Py_None};
                        PyObject *owned[3] = {NULL, NULL, NULL};
                        int failed = 0;
                        if (type_record != Py_None) {
                            PyObject *code_or_proprietary = item(type_record, 0);
                            if ((owned[2] = text_of(item(type_record, 1))) == NULL) failed = 1;
                            if (!failed && code_or_proprietary != Py_None) {
                                if ((owned[0] = text_of(item(code_or_proprietary, 0))) == NULL) failed = 1;
                                if (!failed && (owned[1] = text_of(item(code_or_proprietary, 1))) == NULL) failed = 1;
                            }
                            for (int i = 0; i < 3; i++)
                                if (owned[i] != NULL) args[1 + i] = owned[i];
                        }
                        PyObject *reference = failed ? NULL : reference_in_c(b, args[0], args[1], args[2], args[3]);
                        Py_DECREF(value);
                        for (int i = 0; i < 3; i++) Py_XDECREF(owned[i]);
                        if (reference == NULL) goto done;
                        int status = PyList_Append(references, reference);
                        Py_DECREF(reference);
                        if (status < 0) goto done;
                    }
                }
                if (extend_raw(additional, item(group, 1)) < 0) goto done;
            }
        }
    }
    if ((v[11] = tuple_or_empty(b, unstructured)) == NULL) goto done;
    if ((v[12] = tuple_or_empty(b, references)) == NULL) goto done;
    if ((v[13] = tuple_or_empty(b, additional)) == NULL) goto done;
    v[14] = Py_None; /* return information: read by the Python reader */
    v[15] = Py_None; /* charges: likewise */
    Py_INCREF(Py_None);
    Py_INCREF(Py_None);
    PyObject *purpose_record = item(record, T_PURP);
    if (purpose_record != Py_None) {
        v[16] = text_of(item(purpose_record, 0));
        if (v[16] == Py_None) {
            Py_DECREF(v[16]);
            v[16] = text_of(item(purpose_record, 1));
        }
        if (v[16] == NULL) goto done;
    } else {
        v[16] = Py_None;
        Py_INCREF(Py_None);
    }
    if ((v[17] = raw_of(item(record, T_ADDTL))) == NULL) goto done;
    line = item(record, T_LINE);
    {
        long number = PyLong_AsLong(line);
        PyObject *shown = number > 0 ? line : Py_None;
        if ((v[18] = make_origin(b, shown, path)) == NULL) goto done;
    }
    if (v[0] == NULL) goto done;
    result = make(&b->makers[M_TRANSACTION], v, TX_FIELDS);
done:
    for (int i = 0; i < TX_FIELDS; i++) Py_XDECREF(v[i]);
    Py_XDECREF(tx_amount);
    Py_XDECREF(details);
    Py_XDECREF(parties);
    Py_XDECREF(pair);
    Py_XDECREF(unstructured);
    Py_XDECREF(references);
    Py_XDECREF(additional);
    return result;
}

enum { E_AMT, E_IND, E_RVSL, E_STS, E_BOOK, E_VAL, E_SVCR, E_REF, E_DETAILS, E_CODE, E_DTLS, E_ADDTL };
enum { ENTRY_FIELDS = 20 };

static PyObject *build_entry(BuilderObject *b, PyObject *record, PyObject *element, Py_ssize_t index,
                             PyObject *entry_path) {
    PyObject *v[ENTRY_FIELDS] = {NULL};
    PyObject *result = NULL, *amount = NULL, *batches = NULL, *located = NULL, *transactions = NULL;
    PyObject *dates[4] = {NULL, NULL, NULL, NULL};
    int ok;
    if (item(record, E_AMT) == Py_None || item(record, E_IND) == Py_None || item(record, E_STS) == Py_None)
        return NOT_HANDLED;
    if ((amount = build_amount(b, item(record, E_AMT))) == NULL) goto done;
    PyObject *indicator = build_indicator(b, item(record, E_IND), &ok);
    if (ok != 1) goto done;
    int reversal = 0;
    if (item(record, E_RVSL) != Py_None) {
        PyObject *flag = code_of(b->booleans, item(record, E_RVSL));
        if (flag == NULL) goto done;
        reversal = flag == Py_True;
    }
    {
        PyObject *status_record = item(record, E_STS);
        PyObject *code = item(status_record, 1);
        PyObject *status = code_of(b->statuses, code != Py_None ? code : item(status_record, 0));
        if (status == NULL) goto done;
        v[4] = status;
        Py_INCREF(status);
    }
    int status_date = build_date_choice(b, item(record, E_BOOK), &dates[0]);
    if (status_date != 1) goto done;
    status_date = build_date_choice(b, item(record, E_VAL), &dates[2]);
    if (status_date != 1) goto done;
    PyObject *servicer = reference_of(item(record, E_SVCR));
    if (servicer == NULL) goto done;
    v[10] = servicer;
    PyObject *reference = reference_of(item(record, E_REF));
    if (reference == NULL) goto done;
    v[11] = reference;
    if (item(record, E_DETAILS) != Py_None) {
        if ((v[13] = build_details(b, item(record, E_DETAILS))) == NULL) goto done;
    } else {
        v[13] = Py_None;
        Py_INCREF(Py_None);
    }
    if ((v[12] = build_bank_tx_code(b, item(record, E_CODE))) == NULL) goto done;

    if ((batches = PyList_New(0)) == NULL || (located = PyList_New(0)) == NULL) goto done;
    PyObject *groups = item(record, E_DTLS);
    if (groups != Py_None) {
        Py_ssize_t group_count = PyList_GET_SIZE(groups);
        for (Py_ssize_t d = 0; d < group_count; d++) {
            PyObject *group = item(groups, d);
            PyObject *batch_record = item(group, 0), *txs = item(group, 1);
            PyObject *path = group_count > 1 ? PyUnicode_FromFormat("%U/NtryDtls[%zd]", entry_path, d + 1)
                                             : PyUnicode_FromFormat("%U/NtryDtls", entry_path);
            if (path == NULL) goto done;
            Py_ssize_t tx_count = txs == Py_None ? 0 : PyList_GET_SIZE(txs);
            for (Py_ssize_t t = 0; t < tx_count; t++) {
                PyObject *tx_path = tx_count == 1 ? PyUnicode_FromFormat("%U/TxDtls", path)
                                                  : PyUnicode_FromFormat("%U/TxDtls[%zd]", path, t + 1);
                if (tx_path == NULL) {
                    Py_DECREF(path);
                    goto done;
                }
                PyObject *pair = PyTuple_Pack(2, item(txs, t), tx_path);
                Py_DECREF(tx_path);
                if (pair == NULL || PyList_Append(located, pair) < 0) {
                    Py_XDECREF(pair);
                    Py_DECREF(path);
                    goto done;
                }
                Py_DECREF(pair);
            }
            Py_DECREF(path);
            if (batch_record != Py_None) {
                PyObject *batch = build_batch(b, batch_record, tx_count);
                if (batch == NULL) goto done;
                int status = PyList_Append(batches, batch);
                Py_DECREF(batch);
                if (status < 0) goto done;
            }
        }
    }
    Py_ssize_t count = PyList_GET_SIZE(located);
    int single = count == 1;
    if ((transactions = PyTuple_New(count)) == NULL) goto done;
    for (Py_ssize_t t = 0; t < count; t++) {
        PyObject *pair = item(located, t);
        PyObject *tx = build_transaction(b, PyTuple_GET_ITEM(pair, 0), t + 1, PyTuple_GET_ITEM(pair, 1),
                                         single ? amount : Py_None, indicator, reversal);
        if (tx == NULL) goto done;
        PyTuple_SET_ITEM(transactions, t, tx);
    }
    if (single) { /* CAMT-W005: the only transaction's amount differs from the booked one */
        PyObject *tx_amount = PyObject_GetAttrString(PyTuple_GET_ITEM(transactions, 0), "amount");
        if (tx_amount == NULL) goto done;
        int differs = 0;
        if (tx_amount != Py_None) {
            PyObject *c1 = PyObject_GetAttrString(tx_amount, "currency");
            PyObject *c2 = PyObject_GetAttrString(amount, "currency");
            PyObject *a1 = PyObject_GetAttrString(tx_amount, "value");
            PyObject *a2 = PyObject_GetAttrString(amount, "value");
            if (c1 && c2 && a1 && a2) {
                int same_currency = PyObject_RichCompareBool(c1, c2, Py_EQ);
                int same_value = PyObject_RichCompareBool(a1, a2, Py_EQ);
                differs = same_currency < 0 || same_value < 0 ? -1 : (same_currency && !same_value);
            } else {
                differs = -1;
            }
            Py_XDECREF(c1);
            Py_XDECREF(c2);
            Py_XDECREF(a1);
            Py_XDECREF(a2);
        }
        Py_DECREF(tx_amount);
        if (differs) goto done; /* -1: an exception; 1: not handled */
    }
    v[0] = PyLong_FromSsize_t(index);
    v[1] = amount;
    Py_INCREF(amount);
    v[2] = indicator;
    Py_INCREF(indicator);
    v[3] = reversal ? Py_True : Py_False;
    Py_INCREF(v[3]);
    v[5] = dates[0];
    v[6] = dates[1];
    v[7] = dates[2];
    v[8] = dates[3];
    dates[0] = dates[1] = dates[2] = dates[3] = NULL;
    v[9] = v[10] != Py_None ? v[10] : v[11]; /* entry_ref: AcctSvcrRef, else NtryRef */
    Py_INCREF(v[9]);
    v[14] = Py_None; /* charges: an entry with Chrgs is read by the Python reader */
    Py_INCREF(Py_None);
    if ((v[15] = tuple_or_empty(b, batches)) == NULL) goto done;
    v[16] = transactions;
    transactions = NULL;
    if ((v[17] = raw_of(item(record, E_ADDTL))) == NULL) goto done;
    v[18] = b->empty;
    Py_INCREF(b->empty);
    {
        PyObject *line = PyObject_GetAttrString(element, "sourceline");
        if (line == NULL) goto done;
        v[19] = make_origin(b, line, entry_path);
        Py_DECREF(line);
        if (v[19] == NULL) goto done;
    }
    if (v[0] == NULL) goto done;
    result = make(&b->makers[M_ENTRY], v, ENTRY_FIELDS);
done:
    for (int i = 0; i < ENTRY_FIELDS; i++) Py_XDECREF(v[i]);
    for (int i = 0; i < 4; i++) Py_XDECREF(dates[i]);
    Py_XDECREF(amount);
    Py_XDECREF(batches);
    Py_XDECREF(located);
    Py_XDECREF(transactions);
    return result;
}

/* The builder holds the reader's bound methods (the reader holds the builder): a cycle,
 * so it takes part in garbage collection. */
#define BUILDER_OBJECTS(self)                                                                          \
    PyObject **owned[] = {(PyObject **)&(self)->plan, &(self)->source, &(self)->amount, &(self)->date,    \
                          &(self)->datetime, &(self)->creditor_reference, &(self)->counterparty,        \
                          &(self)->credit, &(self)->debit,                                              \
                          &(self)->statuses, &(self)->booleans, &(self)->source_tx,                      \
                          &(self)->source_details, &(self)->source_entry, &(self)->no_refs,              \
                          &(self)->no_parties, &(self)->empty, &(self)->decimal, &(self)->kind_rf,          \
                          &(self)->kind_qrr, &(self)->kind_scor, &(self)->kind_code,                     \
                          &(self)->kind_proprietary, &(self)->kind_untyped, &(self)->parties_seen,       \
                          &(self)->codes_seen}

static int builder_traverse(BuilderObject *self, visitproc visit, void *arg) {
    BUILDER_OBJECTS(self);
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) Py_VISIT(*owned[i]);
    for (int i = 0; i < M_COUNT; i++) {
        Py_VISIT(self->makers[i].cls);
        Py_VISIT(self->makers[i].descriptors);
    }
    return 0;
}

static int builder_clear(BuilderObject *self) {
    BUILDER_OBJECTS(self);
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) Py_CLEAR(*owned[i]);
    for (int i = 0; i < M_COUNT; i++) {
        Py_CLEAR(self->makers[i].cls);
        Py_CLEAR(self->makers[i].descriptors);
    }
    return 0;
}

static void builder_dealloc(BuilderObject *self) {
    PyObject_GC_UnTrack(self);
    builder_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *builder_read(BuilderObject *self, PyObject *args) {
    PyObject *element, *entry_path;
    Py_ssize_t index;
    if (!PyArg_ParseTuple(args, "OnU", &element, &index, &entry_path)) return NULL;
    if (element_type == NULL || !PyObject_TypeCheck(element, element_type)) {
        PyErr_SetString(PyExc_TypeError, "read() needs an lxml.etree._Element");
        return NULL;
    }
    xmlNode *node = ((struct LxmlElement *)element)->_c_node;
    if (node == NULL || node->type != XML_ELEMENT_NODE) Py_RETURN_NONE;
    Walk walk = {self->plan->namespace, (size_t)self->max_text_bytes};
    PyObject *record = new_record(self->plan->plan);
    if (record == NULL) return NULL;
    int status = fill(&walk, self->plan->plan, node, record, 0);
    if (status != 1) {
        Py_DECREF(record);
        if (status < 0) return NULL;
        Py_RETURN_NONE;
    }
    PyObject *entry = build_entry(self, record, element, index, entry_path);
    Py_DECREF(record);
    if (entry == NULL && !PyErr_Occurred()) Py_RETURN_NONE;
    return entry;
}

static PyMethodDef builder_methods[] = {
    {"read", (PyCFunction)builder_read, METH_VARARGS,
     "read(ntry_element, index, entry_path) -> Entry | None (None: for the Python reader)"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject BuilderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "formats.camt._extract.EntryBuilder",
    .tp_basicsize = sizeof(BuilderObject),
    .tp_dealloc = (destructor)builder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)builder_traverse,
    .tp_clear = (inquiry)builder_clear,
    .tp_doc = "Builds Entry records in C (see formats/camt/fastpath.py).",
    .tp_methods = builder_methods,
};

static PyObject *kit_get(PyObject *kit, const char *name) {
    PyObject *value = PyDict_GetItemString(kit, name);
    if (value == NULL) {
        PyErr_Format(PyExc_KeyError, "entry builder kit lacks %s", name);
        return NULL;
    }
    Py_INCREF(value);
    return value;
}

static PyObject *new_builder(PyObject *Py_UNUSED(module), PyObject *args) {
    PlanObject *plan;
    Py_ssize_t max_text_bytes;
    PyObject *source, *kit;
    if (!PyArg_ParseTuple(args, "O!nUO!", &PlanType, &plan, &max_text_bytes, &source, &PyDict_Type, &kit))
        return NULL;
    BuilderObject *self = PyObject_GC_New(BuilderObject, &BuilderType);
    if (self == NULL) return NULL;
    memset((char *)self + sizeof(PyObject), 0, sizeof(BuilderObject) - sizeof(PyObject));
    PyObject_GC_Track(self);
    Py_INCREF(plan);
    self->plan = plan;
    self->max_text_bytes = max_text_bytes < 0 ? 0 : max_text_bytes;
    Py_INCREF(source);
    self->source = source;
    for (int i = 0; i < M_COUNT; i++) {
        PyObject *pair = PyDict_GetItemString(kit, maker_names[i]);
        PyObject *cls, *descriptors;
        if (pair == NULL || !PyArg_ParseTuple(pair, "O!O!", &PyType_Type, &cls, &PyTuple_Type, &descriptors)) {
            if (!PyErr_Occurred()) PyErr_Format(PyExc_KeyError, "entry builder kit lacks %s", maker_names[i]);
            Py_DECREF(self);
            return NULL;
        }
        for (Py_ssize_t d = 0; d < PyTuple_GET_SIZE(descriptors); d++) {
            if (Py_TYPE(PyTuple_GET_ITEM(descriptors, d))->tp_descr_set == NULL) {
                PyErr_Format(PyExc_TypeError, "%s: field %zd has no settable descriptor", maker_names[i], d);
                Py_DECREF(self);
                return NULL;
            }
        }
        Py_INCREF(cls);
        Py_INCREF(descriptors);
        self->makers[i].cls = cls;
        self->makers[i].descriptors = descriptors;
    }
    struct {
        PyObject **slot;
        const char *name;
    } fields[] = {{&self->amount, "amount"},           {&self->date, "date"},
                  {&self->datetime, "datetime"},       {&self->creditor_reference, "creditor_reference"},
                  {&self->counterparty, "counterparty"}, {&self->credit, "credit"},
                  {&self->debit, "debit"},             {&self->statuses, "statuses"},
                  {&self->booleans, "booleans"},       {&self->source_tx, "source_tx"},
                  {&self->source_details, "source_details"}, {&self->source_entry, "source_entry"},
                  {&self->no_refs, "no_refs"},         {&self->no_parties, "no_parties"},
                  {&self->decimal, "Decimal"},         {&self->kind_rf, "kind_rf"},
                  {&self->kind_qrr, "kind_qrr"},       {&self->kind_scor, "kind_scor"},
                  {&self->kind_code, "kind_code"},     {&self->kind_proprietary, "kind_proprietary"},
                  {&self->kind_untyped, "kind_untyped"}};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if ((*fields[i].slot = kit_get(kit, fields[i].name)) == NULL) {
            Py_DECREF(self);
            return NULL;
        }
    }
    if (!PyDict_Check(self->statuses) || !PyDict_Check(self->booleans)) {
        PyErr_SetString(PyExc_TypeError, "statuses and booleans must be dicts");
        Py_DECREF(self);
        return NULL;
    }
    self->empty = PyTuple_New(0);
    self->parties_seen = PyDict_New();
    self->codes_seen = PyDict_New();
    if (self->empty == NULL || self->parties_seen == NULL || self->codes_seen == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static PyMethodDef methods[] = {
    {"compile", compile_plan, METH_VARARGS, "compile(spec, namespace) -> Plan"},
    {"extract", extract, METH_VARARGS,
     "extract(plan, element, max_text_bytes) -> list | None: the texts the plan asks for, "
     "or None when the subtree holds something the plan does not cover."},
    {"node_facts", node_facts, METH_O, "node_facts(element) -> (name, namespace, line)"},
    {"EntryBuilder", new_builder, METH_VARARGS,
     "EntryBuilder(plan, max_text_bytes, source, kit) -> a builder whose read() makes Entry records"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, .m_name = "_extract",
    .m_doc = "Plan-directed extraction of lxml subtrees (see formats/camt/fastpath.py).", .m_size = -1,
    .m_methods = methods};

PyMODINIT_FUNC PyInit__extract(void) {
    if (PyType_Ready(&PlanType) < 0 || PyType_Ready(&BuilderType) < 0) return NULL;
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) return NULL;
    PyObject *etree = PyImport_ImportModule("lxml.etree");
    if (etree == NULL) return NULL;
    PyObject *type = PyObject_GetAttrString(etree, "_Element");
    Py_DECREF(etree);
    if (type == NULL) return NULL;
    if (!PyType_Check(type)) {
        Py_DECREF(type);
        PyErr_SetString(PyExc_ImportError, "lxml.etree._Element is not a type");
        return NULL;
    }
    element_type = (PyTypeObject *)type; /* kept for the life of the process */
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) return NULL;
    Py_INCREF(&PlanType);
    if (PyModule_AddObject(module, "Plan", (PyObject *)&PlanType) < 0) {
        Py_DECREF(&PlanType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
