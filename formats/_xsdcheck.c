/* XSD check of a whole document streamed from a file descriptor, with the GIL released.
 *
 * Why: ingest parses a statement and checks it against the official XSD. Riding the check
 * along the parse (lxml's iterparse with a schema) costs as much again as the parse, on
 * the same core. libxml2's streaming reader with a schema validation context does the
 * check without building a tree and without any Python object, so it can run in another
 * thread, on the other core, while the parse reads the same file.
 *
 * libxml2 is the copy lxml carries: its functions are looked up in lxml.etree's shared
 * object (dlsym) when this module is imported, and the module refuses to import when one
 * is missing; formats/validate.py then checks with lxml's iterparse instead. The headers
 * are lxml's own (setup.py), so the declarations match that copy.
 *
 * Hostile input: the reader loads no DTD, substitutes no entity, never touches the
 * network (XML_PARSE_NONET, XML_PARSE_NO_XXE) and keeps libxml2's default size limits.
 * The document is refused anyway by the parse that runs beside this check (DOCTYPE,
 * depth, size); cancel() stops the check at the next node.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/xmlreader.h>
#include <libxml/xmlschemas.h>

/* -- libxml2, looked up in lxml.etree ------------------------------------------------ */

static __typeof__(&xmlSchemaNewMemParserCtxt) f_new_parser_ctxt;
static __typeof__(&xmlSchemaSetParserStructuredErrors) f_set_parser_errors;
static __typeof__(&xmlSchemaParse) f_schema_parse;
static __typeof__(&xmlSchemaFreeParserCtxt) f_free_parser_ctxt;
static __typeof__(&xmlSchemaFree) f_schema_free;
static __typeof__(&xmlSchemaNewValidCtxt) f_new_valid_ctxt;
static __typeof__(&xmlSchemaFreeValidCtxt) f_free_valid_ctxt;
static __typeof__(&xmlReaderForFd) f_reader_for_fd;
static __typeof__(&xmlTextReaderSetStructuredErrorHandler) f_reader_set_errors;
static __typeof__(&xmlTextReaderSchemaValidateCtxt) f_reader_validate_ctxt;
static __typeof__(&xmlTextReaderRead) f_reader_read;
static __typeof__(&xmlTextReaderIsValid) f_reader_is_valid;
static __typeof__(&xmlFreeTextReader) f_free_reader;
static __typeof__(&xmlTextReaderNodeType) f_reader_node_type;
static __typeof__(&xmlTextReaderGetParserLineNumber) f_reader_line;

static int look_up_libxml2(void) {
    PyObject *etree = PyImport_ImportModule("lxml.etree");
    if (etree == NULL) return -1;
    PyObject *file = PyObject_GetAttrString(etree, "__file__");
    Py_DECREF(etree);
    if (file == NULL) return -1;
    const char *path = PyUnicode_AsUTF8(file);
    if (path == NULL) {
        Py_DECREF(file);
        return -1;
    }
    void *handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    Py_DECREF(file);
    if (handle == NULL) {
        PyErr_SetString(PyExc_ImportError, "lxml.etree is not loaded as a shared object");
        return -1;
    }
#define LOOK_UP(target, name)                                                                 \
    do {                                                                                      \
        *(void **)(&target) = dlsym(handle, name);                                            \
        if (target == NULL) {                                                                 \
            PyErr_Format(PyExc_ImportError, "lxml's libxml2 does not export %s", name);      \
            return -1;                                                                        \
        }                                                                                     \
    } while (0)
    LOOK_UP(f_new_parser_ctxt, "xmlSchemaNewMemParserCtxt");
    LOOK_UP(f_set_parser_errors, "xmlSchemaSetParserStructuredErrors");
    LOOK_UP(f_schema_parse, "xmlSchemaParse");
    LOOK_UP(f_free_parser_ctxt, "xmlSchemaFreeParserCtxt");
    LOOK_UP(f_schema_free, "xmlSchemaFree");
    LOOK_UP(f_new_valid_ctxt, "xmlSchemaNewValidCtxt");
    LOOK_UP(f_free_valid_ctxt, "xmlSchemaFreeValidCtxt");
    LOOK_UP(f_reader_for_fd, "xmlReaderForFd");
    LOOK_UP(f_reader_set_errors, "xmlTextReaderSetStructuredErrorHandler");
    LOOK_UP(f_reader_validate_ctxt, "xmlTextReaderSchemaValidateCtxt");
    LOOK_UP(f_reader_read, "xmlTextReaderRead");
    LOOK_UP(f_reader_is_valid, "xmlTextReaderIsValid");
    LOOK_UP(f_free_reader, "xmlFreeTextReader");
    LOOK_UP(f_reader_node_type, "xmlTextReaderNodeType");
    LOOK_UP(f_reader_line, "xmlTextReaderGetParserLineNumber");
#undef LOOK_UP
    return 0;
}

/* -- problems, collected without the GIL -------------------------------------------- */

typedef struct {
    int line;
    int fatal; /* not well-formed (or the reader failed): the rest was not checked */
    char *message;
} Found;

typedef struct {
    Found *items;
    Py_ssize_t count;
    Py_ssize_t limit;
    int full; /* more problems than the limit: the check stops */
    int out_of_memory;
} Collected;

static void collect(void *data, const xmlError *error) {
    Collected *c = data;
    if (error == NULL || error->level == XML_ERR_NONE || error->level == XML_ERR_WARNING) return;
    if (c->count >= c->limit) {
        c->full = 1;
        return;
    }
    if (c->items == NULL) {
        c->items = calloc((size_t)c->limit, sizeof(Found));
        if (c->items == NULL) {
            c->out_of_memory = 1;
            c->full = 1;
            return;
        }
    }
    Found *f = &c->items[c->count];
    f->line = error->line;
    f->fatal = error->level == XML_ERR_FATAL || error->domain != XML_FROM_SCHEMASV;
    f->message = strdup(error->message != NULL ? error->message : "(no message)");
    if (f->message == NULL) {
        c->out_of_memory = 1;
        c->full = 1;
        return;
    }
    c->count++;
}

static void collected_free(Collected *c) {
    for (Py_ssize_t i = 0; i < c->count; i++) free(c->items[i].message);
    free(c->items);
    c->items = NULL;
    c->count = 0;
}

/* -- Schema: a compiled XSD, shared by concurrent checks (read-only once parsed) ------- */

typedef struct {
    PyObject_HEAD
    xmlSchemaPtr schema;
} SchemaObject;

static void schema_dealloc(SchemaObject *self) {
    if (self->schema != NULL) f_schema_free(self->schema);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *schema_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"xsd", NULL};
    Py_buffer xsd;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*", keywords, &xsd)) return NULL;
    if (xsd.len > INT_MAX) {
        PyBuffer_Release(&xsd);
        PyErr_SetString(PyExc_ValueError, "XSD too large");
        return NULL;
    }
    Collected errors = {NULL, 0, 1, 0, 0};
    xmlSchemaParserCtxtPtr parser = f_new_parser_ctxt(xsd.buf, (int)xsd.len);
    xmlSchemaPtr schema = NULL;
    if (parser != NULL) {
        f_set_parser_errors(parser, collect, &errors);
        schema = f_schema_parse(parser);
        f_free_parser_ctxt(parser);
    }
    PyBuffer_Release(&xsd);
    if (schema == NULL) {
        PyErr_Format(PyExc_ValueError, "cannot compile the XSD: %s",
                     errors.count ? errors.items[0].message : "libxml2 gave no reason");
        collected_free(&errors);
        return NULL;
    }
    collected_free(&errors);
    SchemaObject *self = (SchemaObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        f_schema_free(schema);
        return NULL;
    }
    self->schema = schema;
    return (PyObject *)self;
}

static PyTypeObject SchemaType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "formats._xsdcheck.Schema",
    .tp_basicsize = sizeof(SchemaObject),
    .tp_dealloc = (destructor)schema_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Schema(xsd: bytes): an XSD compiled by libxml2.",
    .tp_new = schema_new,
};

/* -- Check: one run over one document, cancellable from another thread --------------- */

typedef struct {
    PyObject_HEAD
    SchemaObject *schema;
    int cancelled; /* read and written with __atomic builtins: set by another thread */
    int running;
} CheckObject;

static void check_dealloc(CheckObject *self) {
    Py_XDECREF(self->schema);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *check_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"schema", NULL};
    PyObject *schema;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!", keywords, &SchemaType, &schema)) return NULL;
    CheckObject *self = (CheckObject *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    Py_INCREF(schema);
    self->schema = (SchemaObject *)schema;
    return (PyObject *)self;
}

/* run(fd, url, max_problems) -> (problems, state)
 * problems: [(line, message, fatal)], in document order; state: "complete", "cancelled",
 * "stopped" (more than max_problems), "doctype" (a DOCTYPE, refused: its entities are not
 * walked; problems holds its line) or "failed" (the reader could not go on). */
static PyObject *check_run(CheckObject *self, PyObject *args) {
    int fd;
    const char *url;
    Py_ssize_t max_problems;
    if (!PyArg_ParseTuple(args, "isn", &fd, &url, &max_problems)) return NULL;
    if (max_problems < 1) {
        PyErr_SetString(PyExc_ValueError, "max_problems must be positive");
        return NULL;
    }
    if (self->running) {
        PyErr_SetString(PyExc_RuntimeError, "this check is already running");
        return NULL;
    }
    self->running = 1;
    Collected found = {NULL, 0, max_problems, 0, 0};
    int result = -2; /* -2: the reader or its validation could not be set up */
    int valid = 0;
    int cancelled = 0;
    int doctype_line = 0;
    Py_BEGIN_ALLOW_THREADS
    xmlSchemaValidCtxtPtr context = f_new_valid_ctxt(self->schema->schema);
    xmlTextReaderPtr reader =
        context == NULL ? NULL : f_reader_for_fd(fd, url, NULL, XML_PARSE_NONET | XML_PARSE_NO_XXE);
    if (reader != NULL) {
        f_reader_set_errors(reader, collect, &found);
        if (f_reader_validate_ctxt(reader, context, 0) == 0) {
            while (!found.full && !(cancelled = __atomic_load_n(&self->cancelled, __ATOMIC_RELAXED)) &&
                   (result = f_reader_read(reader)) == 1) {
                if (f_reader_node_type(reader) == XML_READER_TYPE_DOCUMENT_TYPE) {
                    doctype_line = f_reader_line(reader);
                    if (doctype_line < 1) doctype_line = 1;
                    break;
                }
            }
            if (result == 0) valid = f_reader_is_valid(reader);
        }
        f_free_reader(reader);
    }
    if (context != NULL) f_free_valid_ctxt(context);
    Py_END_ALLOW_THREADS
    self->running = 0;
    if (found.out_of_memory) {
        collected_free(&found);
        return PyErr_NoMemory();
    }
    if (doctype_line) {
        collected_free(&found);
        return Py_BuildValue("([(isO)]s)", doctype_line, "DOCTYPE declarations are refused", Py_True,
                             "doctype");
    }
    const char *state = cancelled        ? "cancelled"
                        : found.full     ? "stopped"
                        : result == 0    ? "complete"
                                         : "failed";
    PyObject *problems = PyList_New(found.count);
    for (Py_ssize_t i = 0; problems != NULL && i < found.count; i++) {
        PyObject *entry = Py_BuildValue("(isO)", found.items[i].line, found.items[i].message,
                                        found.items[i].fatal ? Py_True : Py_False);
        if (entry == NULL) Py_CLEAR(problems);
        else PyList_SET_ITEM(problems, i, entry);
    }
    collected_free(&found);
    if (problems == NULL) return NULL;
    if (result == 0 && !cancelled && valid != 1 && PyList_GET_SIZE(problems) == 0) {
        /* libxml2 found the document invalid without saying why: never report it valid */
        PyObject *entry = Py_BuildValue("(isO)", 0, "the document is not valid against the XSD", Py_False);
        if (entry == NULL || PyList_Append(problems, entry) < 0) {
            Py_XDECREF(entry);
            Py_DECREF(problems);
            return NULL;
        }
        Py_DECREF(entry);
    }
    return Py_BuildValue("(Ns)", problems, state);
}

static PyObject *check_cancel(CheckObject *self, PyObject *Py_UNUSED(ignored)) {
    __atomic_store_n(&self->cancelled, 1, __ATOMIC_RELAXED);
    Py_RETURN_NONE;
}

static PyMethodDef check_methods[] = {
    {"run", (PyCFunction)check_run, METH_VARARGS,
     "run(fd, url, max_problems) -> (problems, state); releases the GIL while it reads."},
    {"cancel", (PyCFunction)check_cancel, METH_NOARGS, "Stop a running check at its next node."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CheckType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "formats._xsdcheck.Check",
    .tp_basicsize = sizeof(CheckObject),
    .tp_dealloc = (destructor)check_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Check(schema): one streaming XSD check of one document.",
    .tp_methods = check_methods,
    .tp_new = check_new,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "formats._xsdcheck",
    "Streaming XSD check in C, without the GIL (see formats/validate.py).", -1, NULL,
};

PyMODINIT_FUNC PyInit__xsdcheck(void) {
    if (look_up_libxml2() < 0) return NULL;
    if (PyType_Ready(&SchemaType) < 0 || PyType_Ready(&CheckType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Schema", (PyObject *)&SchemaType) < 0 ||
        PyModule_AddObjectRef(m, "Check", (PyObject *)&CheckType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
