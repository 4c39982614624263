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
            if (plan->rules[i].kind != K_ATTR && plan->rules[i].kind != K_LINE &&
                strcmp(plan->rules[i].name, name) == 0) {
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

static PyMethodDef methods[] = {
    {"compile", compile_plan, METH_VARARGS, "compile(spec, namespace) -> Plan"},
    {"extract", extract, METH_VARARGS,
     "extract(plan, element, max_text_bytes) -> list | None: the texts the plan asks for, "
     "or None when the subtree holds something the plan does not cover."},
    {"node_facts", node_facts, METH_O, "node_facts(element) -> (name, namespace, line)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, .m_name = "_extract",
    .m_doc = "Plan-directed extraction of lxml subtrees (see formats/camt/fastpath.py).", .m_size = -1,
    .m_methods = methods};

PyMODINIT_FUNC PyInit__extract(void) {
    if (PyType_Ready(&PlanType) < 0) return NULL;
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
