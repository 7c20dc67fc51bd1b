"""Fusing a mapper with the map buffer: each `yield key, value` compiled into the buffer's counting.

A generator mapper costs, per record, what its API implies: the generator is
resumed, builds a (key, value) tuple and suspends; the buffer's loop unpacks
the tuple and counts it. Spark's DataFrame avoids costs of this kind by
whole-stage code generation: it compiles a stage's operators into one
function, so that no row crosses a call. This module does the same for a
Python mapper, from its own source: it compiles a copy of the method in which
every statement `yield EXPR` is replaced by `MapOutputBuffer.collect`'s fast
path, written in place:

    def mapper(self, key, line):          def mapper(self, key, line, _emrlab_sink):
        for word in line.split():             one, get, counts, add, put = _emrlab_sink  (all _emrlab_...)
            yield word, 1                     n = 0
                                              for word in line.split():
                                                  k = word; v = 1; n += 1
                                                  if v is one and get(k) is not None: counts[k] += 1
                                                  else: add(k, v)
                                              return n

(the real code keeps the buffer's exact test, `fused_statements` below). The
fused method is called once per input record instead of being iterated, and
returns how many records it put; the buffer takes that int as the call's
batch. Records go in in the same order, with the same side effects between
them, so the output, the counters and the errors are the same; a traceback
still points at the user's lines (the copy is compiled with their file name
and line numbers, and the `yield` line stands for the code put in its place).

Only what can be fused exactly is: a plain generator function or method whose
source can be read and compiles to the very code that runs (not a file edited
since, not a name its class mangles), with no decorators, default values,
`*args` or keyword-only parameters, no closure (`super()` makes one), no name
of ours, no look at its own frame (`locals()`, `sys._getframe`), and whose
every `yield` is a statement of its own outside any `try` or `with` (inside
one, the buffer's work and errors would run under the user's handlers).
Anything else runs as it is. `-D emrlab.map.fuse=false` turns fusion off.

What can still tell the two apart, none of it in the output or the counters:
objects a call made are freed when it returns rather than as the buffer takes
the next record (a `__del__` runs sooner); an error inside the buffer (a key
that cannot be encoded) shows the user's `yield` line in its traceback; and
when `mapper_init` yields records, the buffer's size checks (every 4,096
records) may come that many records later.

The combiner is not compiled but recognised: `summing` finds the commonest of
all, `yield key, sum(values)`, by the same reading of its source. For a key
the buffer counted (n records of the same int v), that combiner's output is
(key, n * v) exactly, so a spill writes that without calling it once per key
(`MapOutputBuffer._spill_counted`). Spark's DataFrame knows its `sum` the same
way, as an aggregate function rather than as a call.
"""

from __future__ import annotations

import __future__
import ast
import builtins
import copy
import functools
import inspect
import operator
import tokenize
import types
from collections.abc import Callable, Iterator

FUSE_KEY = "emrlab.map.fuse"
VECTORISE_KEY = "emrlab.map.vectorise"  # word count's mapper over the bytes (vectorised.py), when fused
PREFIX = "_emrlab_"
SINK = PREFIX + "sink"
COUNT = PREFIX + "n"
KEY, VALUE = PREFIX + "k", PREFIX + "v"
SINK_NAMES = ("one", "get", "counts", "add", "put", "buffer")  # MapOutputBuffer.sink's slots, in order
# Code that looks at its own frame or its caller's would see the fused one: not fused.
FRAME_NAMES = frozenset({"locals", "vars", "_getframe", "currentframe", "f_back", "f_locals"})
_BUILTIN_SUM = builtins.sum  # as this module found it, before any job's module was loaded
FUTURE_FLAGS = functools.reduce(operator.or_, (getattr(__future__, feature).compiler_flag
                                                for feature in __future__.all_feature_names))

_PROLOGUE = f"""
{', '.join(PREFIX + name for name in SINK_NAMES)} = {SINK}
{COUNT} = 0
"""
# The buffer's fast path (MapOutputBuffer.collect), for a record already in KEY and VALUE.
_COLLECT_PAIR = f"""
{COUNT} += 1
if {VALUE} is {PREFIX}one:
    try:
        {PREFIX}c = {PREFIX}get({KEY})
    except TypeError:
        {PREFIX}c = None
    if {PREFIX}c is not None:
        {PREFIX}counts[{KEY}] = {PREFIX}c + 1
    else:
        {PREFIX}add({KEY}, {VALUE})
else:
    {PREFIX}add({KEY}, {VALUE})
"""
_COLLECT_RECORD = f"""
{COUNT} += 1
{PREFIX}put(None)
"""


def fusion_enabled(properties: dict) -> bool:
    return str(properties.get(FUSE_KEY, "true")).lower() != "false"


def vectorising_enabled(properties: dict) -> bool:
    return fusion_enabled(properties) and str(properties.get(VECTORISE_KEY, "true")).lower() != "false"


def fuse_mapper(mapper: Callable) -> Callable | None:
    """The fused copy of `mapper` (bound to the same object if it is a method), called as
    `fused(key, value, sink)`; None if it cannot be fused exactly."""
    function = mapper.__func__ if inspect.ismethod(mapper) else mapper
    if not inspect.isfunction(function) or not inspect.isgeneratorfunction(function):
        return None
    code = function.__code__
    if code.co_freevars or function.__defaults__ or function.__kwdefaults__:
        return None
    for nested in _codes(code):
        if (FRAME_NAMES.intersection(nested.co_names) or any(name.startswith(PREFIX) for name in (
                *nested.co_varnames, *nested.co_names, *nested.co_cellvars, *nested.co_freevars))):
            return None
    definition = _definition(function)
    if definition is None:
        return None
    arguments = definition.args
    if (arguments.posonlyargs or arguments.vararg or arguments.kwonlyargs or arguments.kwarg
            or [argument.arg for argument in arguments.args] != list(code.co_varnames[:code.co_argcount])):
        return None
    fused = _compiled(function, _fused_definition(definition))
    if fused is None:
        return None
    return types.MethodType(fused, mapper.__self__) if inspect.ismethod(mapper) else fused


def summing(function: Callable | None) -> bool:
    """Whether `function` (a combiner or reducer, called with a key and its values) is exactly
    `yield key, sum(values)`, with the builtin `sum`: its source read as `fuse_mapper` reads a
    mapper's, one statement after an optional docstring, its own two parameters as they came."""
    read = _one_statement(function)
    if read is None:
        return False
    (key, values), statement, plain = read
    pair = _yielded_pair(statement)
    if pair is None:
        return False
    first, second = pair
    if not (isinstance(first, ast.Name) and first.id == key and isinstance(second, ast.Call)
            and isinstance(second.func, ast.Name) and second.func.id == "sum" and not second.keywords
            and len(second.args) == 1 and isinstance(second.args[0], ast.Name) and second.args[0].id == values):
        return False
    # `sum` is the builtin: not a parameter, not a global of the module, not replaced in builtins
    # (as the task starts: a module that binds `sum` later, while the task runs, is not seen).
    return "sum" not in (key, values) and "sum" not in plain.__globals__ \
        and plain.__builtins__.get("sum") is _BUILTIN_SUM


def split_count(mapper: Callable | None):
    """The int C if `mapper` (called with a key and a line) is exactly `for WORD in LINE.split():
    yield WORD, C`, with LINE its line parameter and C an int literal (`vectorised.py` runs that
    loop over the bytes); else None. Read from its source as `summing` reads a combiner's."""
    read = _one_statement(mapper)
    if read is None:
        return None
    (_, line), loop, plain = read
    if not isinstance(loop, ast.For) or loop.orelse:
        return None
    call = loop.iter
    if not (isinstance(loop.target, ast.Name) and isinstance(call, ast.Call) and not call.args
            and not call.keywords and isinstance(call.func, ast.Attribute) and call.func.attr == "split"
            and isinstance(call.func.value, ast.Name) and call.func.value.id == line):
        return None
    pair = _yielded_pair(loop.body[0]) if len(loop.body) == 1 else None
    if pair is None:
        return None
    word, constant = pair
    if not (isinstance(word, ast.Name) and word.id == loop.target.id and isinstance(constant, ast.Constant)
            and type(constant.value) is int):
        return None
    # The very object the mapper yields (an int above 256 is not shared), as the buffer compares them.
    return next((value for value in plain.__code__.co_consts if type(value) is int and value == constant.value),
                constant.value)


def _yielded_pair(statement: ast.stmt) -> list[ast.expr] | None:
    """The two expressions of a statement `yield A, B`; None for any other statement."""
    if not isinstance(statement, ast.Expr) or not isinstance(statement.value, ast.Yield):
        return None
    record = statement.value.value
    return record.elts if isinstance(record, ast.Tuple) and len(record.elts) == 2 else None


def _one_statement(function) -> tuple[list[str], ast.stmt, types.FunctionType] | None:
    """For a plain generator function or method called with two arguments, whose body is one
    statement after an optional docstring: the two parameters' names, that statement, and the
    function; else None."""
    plain = function.__func__ if inspect.ismethod(function) else function
    if not inspect.isfunction(plain) or not inspect.isgeneratorfunction(plain):
        return None
    if plain.__code__.co_freevars or plain.__defaults__ or plain.__kwdefaults__:
        return None
    definition = _definition(plain)
    if definition is None:
        return None
    arguments = definition.args
    parameters = [argument.arg for argument in arguments.args][1 if inspect.ismethod(function) else 0:]
    if arguments.posonlyargs or arguments.vararg or arguments.kwonlyargs or arguments.kwarg or len(parameters) != 2:
        return None
    body = definition.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]  # the docstring
    return (parameters, body[0], plain) if len(body) == 1 else None


def _definition(function) -> ast.FunctionDef | None:
    """The function's `def`, parsed from its source, at its lines in its file."""
    try:
        lines, first_line = inspect.getsourcelines(function)
    except (OSError, TypeError, IndexError, SyntaxError, tokenize.TokenError):
        return None
    source = "".join(lines)
    indented = source[:1].isspace()
    try:  # a method's source is indented: parse it inside a block, keeping its columns
        tree = ast.parse("if 1:\n" + source if indented else source)
    except SyntaxError:
        return None
    body = tree.body[0].body if indented else tree.body
    definition = body[0] if len(body) == 1 else None
    if (not isinstance(definition, ast.FunctionDef) or definition.name != function.__name__
            or definition.decorator_list):
        return None
    ast.increment_lineno(definition, first_line - (2 if indented else 1))
    # The source must be what runs: not a file edited since it was imported, not another function's
    # (inspect follows __wrapped__), not code whose names its class mangles (`self.__count`).
    if _function_code(definition, function) != function.__code__:
        return None
    return definition


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    """The code object and every one nested in it (its functions, lambdas, comprehensions)."""
    yield code
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _codes(constant)


def _function_code(definition: ast.FunctionDef, function) -> types.CodeType | None:
    code = _module_code(definition, function)
    return next((constant for constant in code.co_consts if isinstance(constant, types.CodeType)), None) \
        if code is not None else None


def _module_code(definition: ast.FunctionDef, function) -> types.CodeType | None:
    """`definition` compiled as the function was: with its file name and its future imports."""
    module = ast.Module(body=[definition], type_ignores=[])
    try:
        return compile(module, function.__code__.co_filename, "exec",
                       flags=function.__code__.co_flags & FUTURE_FLAGS, dont_inherit=True)
    except (SyntaxError, ValueError):
        return None


class _Fuser(ast.NodeTransformer):
    """Replaces each `yield` statement of the function's own scope outside try and with blocks;
    makes every `return` return the count. Nested functions, lambdas and classes keep theirs."""

    def __init__(self):
        self.guarded = 0

    def visit_FunctionDef(self, node):
        return node

    visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = visit_FunctionDef

    def _guarded(self, node):
        self.guarded += 1
        self.generic_visit(node)
        self.guarded -= 1
        return node

    visit_Try = visit_With = visit_AsyncWith = _guarded
    if hasattr(ast, "TryStar"):
        visit_TryStar = _guarded

    def visit_Expr(self, node):
        if isinstance(node.value, ast.Yield) and not self.guarded:
            return fused_statements(node)
        return self.generic_visit(node)

    def visit_Return(self, node):
        self.generic_visit(node)
        ending = _located(ast.Return(ast.Name(COUNT, ast.Load())), node)
        if node.value is None:
            return ending
        evaluated = _located(ast.Expr(ast.Constant(None)), node)
        evaluated.value = node.value  # `return EXPR` of a generator: EXPR is evaluated, then dropped
        return [evaluated, ending]


def fused_statements(statement: ast.Expr) -> list[ast.stmt]:
    """What stands in place of the statement `yield EXPR`: a literal pair is assigned to the key and
    value and counted in place; any other EXPR (a name, a call, nothing) goes to the buffer's `put`,
    which unpacks it as `collect` does, and says so if it is not a pair. Our nodes take the
    statement's place; the user's expressions keep their own."""
    record = statement.value.value
    if isinstance(record, ast.Tuple) and len(record.elts) == 2 and not any(
            isinstance(element, ast.Starred) for element in record.elts):
        assignments = [_located(ast.Assign([ast.Name(name, ast.Store())], ast.Constant(None)), statement)
                       for name in (KEY, VALUE)]
        for assignment, element in zip(assignments, record.elts):
            assignment.value = element
        return [*assignments, *(_located(node, statement) for node in _template(_COLLECT_PAIR))]
    statements = [_located(node, statement) for node in _template(_COLLECT_RECORD)]
    if record is not None:
        statements[-1].value.args[0] = record
    return statements


def _fused_definition(definition: ast.FunctionDef) -> ast.FunctionDef:
    fused = copy.deepcopy(definition)
    fuser = _Fuser()
    body = []
    for statement in fused.body:
        result = fuser.visit(statement)
        body.extend(result if isinstance(result, list) else [result])
    ending = ast.Return(ast.Name(COUNT, ast.Load()))
    fused.body = [*(_located(node, definition) for node in _template(_PROLOGUE)), *body,
                  _located(ending, body[-1] if body else definition)]
    fused.args.args.append(ast.arg(SINK))
    for argument in fused.args.args:  # annotations stay on the original (copied over by _compiled)
        argument.annotation = None
    fused.returns = None
    return ast.fix_missing_locations(fused)


def _compiled(function, definition: ast.FunctionDef):
    """The fused function, compiled with the original's file name and run against its globals."""
    code = _module_code(definition, function)
    if code is None:
        return None
    namespace: dict = {}
    exec(code, function.__globals__, namespace)
    fused = namespace[definition.name]
    # A yield left in the function's own scope (inside a try or with, `yield from`, a yield in an
    # expression) leaves a generator: not fused.
    if inspect.isgeneratorfunction(fused) or fused.__code__.co_freevars:
        return None
    fused.__qualname__, fused.__module__, fused.__doc__ = function.__qualname__, function.__module__, function.__doc__
    fused.__annotations__ = dict(function.__annotations__)
    return fused


def _template(source: str) -> list[ast.stmt]:
    return ast.parse(source).body


def _located(node: ast.AST, origin: ast.AST) -> ast.AST:
    """`node` and everything in it placed at `origin`'s lines and columns."""
    for child in ast.walk(node):
        if "lineno" in child._attributes:
            ast.copy_location(child, origin)
    return node
