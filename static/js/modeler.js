/* Process owners' modeller and diff canvas on bpmn-js (served from node_modules/bpmn-js/dist).
 * No inline script: the page hands its data over in a <script type="application/json" id="modeler-data">. */
(function () {
  'use strict';

  var SPIFF_NS = 'http://spiffworkflow.org/bpmn/schema/1.0/core';
  var FORM_PROPERTY = 'formJsonSchemaFilename';
  var HUMAN_TASKS = ['bpmn:UserTask', 'bpmn:ManualTask'];

  function pageData() {
    var node = document.getElementById('modeler-data');
    return node ? JSON.parse(node.textContent) : {};
  }

  function emptyDiagram(key) {
    var id = (key || 'process').replace(/[^A-Za-z0-9_]/g, '_');
    return '<?xml version="1.0" encoding="UTF-8"?>\n' +
      '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" ' +
      'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" ' +
      'xmlns:spiffworkflow="' + SPIFF_NS + '" id="definitions_' + id + '" targetNamespace="http://bpmn.io/schema/bpmn">' +
      '<bpmn:process id="' + id + '" isExecutable="true"><bpmn:startEvent id="start" /></bpmn:process>' +
      '<bpmndi:BPMNDiagram id="diagram_' + id + '"><bpmndi:BPMNPlane id="plane_' + id + '" bpmnElement="' + id + '">' +
      '<bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="180" y="160" width="36" height="36" />' +
      '</bpmndi:BPMNShape></bpmndi:BPMNPlane></bpmndi:BPMNDiagram></bpmn:definitions>';
  }

  function parseForms(textarea) {
    try {
      var forms = JSON.parse(textarea.value || '{}');
      textarea.setCustomValidity('');
      return forms && typeof forms === 'object' ? forms : {};
    } catch (err) {
      textarea.setCustomValidity(String(err.message || err));
      return null;
    }
  }

  // -- the spiffworkflow:property that names a task's form, read and written as generic moddle elements
  function propertiesOf(bo) {
    var ext = bo.extensionElements;
    var values = (ext && ext.values) || [];
    for (var i = 0; i < values.length; i++) {
      if (values[i].$type === 'spiffworkflow:properties') {
        return values[i];
      }
    }
    return null;
  }

  function childrenOf(el) {
    return el.$children || el.values || [];
  }

  function formOf(bo) {
    var props = propertiesOf(bo);
    var children = props ? childrenOf(props) : [];
    for (var i = 0; i < children.length; i++) {
      var name = children[i].name || (children[i].$attrs || {}).name;
      if (name === FORM_PROPERTY) {
        return children[i].value || (children[i].$attrs || {}).value || '';
      }
    }
    return '';
  }

  function setFormOf(modeler, element, fileName) {
    var moddle = modeler.get('moddle');
    var modeling = modeler.get('modeling');
    var bo = element.businessObject;
    var ext = bo.extensionElements || moddle.create('bpmn:ExtensionElements', { values: [] });
    var props = propertiesOf(bo);
    if (!props) {
      props = moddle.createAny('spiffworkflow:properties', SPIFF_NS, { $children: [] });
      ext.values = (ext.values || []).concat([props]);
    }
    var children = childrenOf(props).filter(function (c) {
      return (c.name || (c.$attrs || {}).name) !== FORM_PROPERTY;
    });
    if (fileName) {
      children.push(moddle.createAny('spiffworkflow:property', SPIFF_NS, { name: FORM_PROPERTY, value: fileName }));
    }
    props.$children = children;
    modeling.updateProperties(element, { extensionElements: ext });
  }

  // -- a minimal live preview of a JSON Schema form (the task page renders the real one server-side)
  function enumLabel(prop, value) {
    var labels = (prop['x-enum-labels'] || {})[String(value)];
    return (labels && (labels.sv || labels.en)) || String(value);
  }

  function previewField(name, prop, required) {
    var wrapper = document.createElement('div');
    wrapper.className = 'field';
    var label = document.createElement('label');
    label.textContent = (prop.title || name) + (required ? ' *' : '');
    wrapper.appendChild(label);
    var input;
    if (prop.type === 'object') {
      var fieldset = document.createElement('fieldset');
      var legend = document.createElement('legend');
      legend.textContent = prop.title || name;
      fieldset.appendChild(legend);
      renderSchemaInto(fieldset, prop);
      return fieldset;
    } else if (Array.isArray(prop.enum)) {
      input = document.createElement('select');
      prop.enum.forEach(function (value) {
        var option = document.createElement('option');
        option.textContent = enumLabel(prop, value);
        input.appendChild(option);
      });
    } else if (prop.type === 'boolean') {
      input = document.createElement('input');
      input.type = 'checkbox';
    } else if ((prop.maxLength || 0) > 200) {
      input = document.createElement('textarea');
    } else {
      input = document.createElement('input');
      input.type = { date: 'date', email: 'email', phone: 'tel' }[prop.format] ||
        (prop.type === 'integer' || prop.type === 'number' ? 'number' : 'text');
    }
    input.disabled = true;
    wrapper.appendChild(input);
    return wrapper;
  }

  function renderSchemaInto(container, schema) {
    var required = schema.required || [];
    var props = schema.properties || {};
    Object.keys(props).forEach(function (name) {
      container.appendChild(previewField(name, props[name] || {}, required.indexOf(name) >= 0));
    });
  }

  function renderPreview(container, forms, fileName) {
    container.textContent = '';
    var schema = forms && fileName ? forms[fileName] : null;
    if (!schema) {
      var note = document.createElement('p');
      note.className = 'muted';
      note.textContent = fileName ? 'Formuläret ' + fileName + ' finns inte i formulär-JSON.' : '–';
      container.appendChild(note);
      return;
    }
    if (schema.title) {
      var title = document.createElement('p');
      title.textContent = schema.title;
      title.className = 'form-title';
      container.appendChild(title);
    }
    renderSchemaInto(container, schema);
  }

  function selectElement(viewer, id) {
    var registry = viewer.get('elementRegistry');
    var element = id && registry.get(id);
    if (!element) {
      return false;
    }
    viewer.get('selection').select(element);
    viewer.get('canvas').scrollToElement(element);
    return true;
  }

  async function startModeler(container, data) {
    var modeler = new BpmnJS({ container: container, keyboard: { bindTo: document } });
    window.skolflodeModeler = modeler;  // for the browser test and for debugging by hand
    var formsText = document.getElementById('forms-json');
    var formName = document.getElementById('task-form-name');
    var preview = document.getElementById('form-preview');
    var selectedLabel = document.getElementById('selected-element');
    var datalist = document.getElementById('form-names');
    var selected = null;

    try {
      await modeler.importXML(data.xml || emptyDiagram(data.key));
      modeler.get('canvas').zoom('fit-viewport');
    } catch (err) {
      container.setAttribute('data-import-error', String(err.message || err));
      container.textContent = 'Diagrammet kunde inte visas: ' + String(err.message || err);
    }
    container.setAttribute('data-ready', 'true');

    var canvas = modeler.get('canvas');
    var registry = modeler.get('elementRegistry');
    document.querySelectorAll('.problem[data-element-id]').forEach(function (button) {
      var id = button.getAttribute('data-element-id');
      if (id && registry.get(id)) {
        canvas.addMarker(id, 'has-problem');
      }
      button.addEventListener('click', function () {
        selectElement(modeler, id);
      });
    });

    function refreshFormNames(forms) {
      datalist.textContent = '';
      Object.keys(forms || {}).forEach(function (name) {
        var option = document.createElement('option');
        option.value = name;
        datalist.appendChild(option);
      });
    }

    function showSelection() {
      var forms = parseForms(formsText);
      if (forms) {
        refreshFormNames(forms);
      }
      if (!selected || HUMAN_TASKS.indexOf(selected.type) < 0) {
        formName.value = '';
        formName.disabled = true;
        selectedLabel.textContent = selected ? (selected.businessObject.name || selected.id) : 'Välj en användaruppgift i diagrammet.';
        renderPreview(preview, forms, '');
        return;
      }
      formName.disabled = false;
      selectedLabel.textContent = selected.businessObject.name || selected.id;
      formName.value = formOf(selected.businessObject);
      renderPreview(preview, forms, formName.value);
    }

    modeler.get('eventBus').on('selection.changed', function (event) {
      selected = event.newSelection.length === 1 ? event.newSelection[0] : null;
      showSelection();
    });
    formName.addEventListener('change', function () {
      if (selected) {
        setFormOf(modeler, selected, formName.value.trim());
        showSelection();
      }
    });
    formsText.addEventListener('input', showSelection);
    showSelection();

    var form = document.getElementById('modeler-form');
    form.addEventListener('submit', async function (event) {
      event.preventDefault();
      if (parseForms(formsText) === null) {
        formsText.reportValidity();
        return;
      }
      var result = await modeler.saveXML({ format: true });
      document.getElementById('modeler-xml').value = result.xml;
      form.submit();
    });
  }

  async function startDiff(container, data) {
    var viewer = new BpmnJS({ container: container });
    window.skolflodeViewer = viewer;
    try {
      await viewer.importXML(data.xml);
    } catch (err) {
      container.textContent = String(err.message || err);
      return;
    }
    var canvas = viewer.get('canvas');
    var registry = viewer.get('elementRegistry');
    (data.added || []).forEach(function (id) {
      if (registry.get(id)) {
        canvas.addMarker(id, 'diff-added');
      }
    });
    (data.changed || []).forEach(function (id) {
      if (registry.get(id)) {
        canvas.addMarker(id, 'diff-changed');
      }
    });
    canvas.zoom('fit-viewport');
    container.setAttribute('data-ready', 'true');
  }

  document.addEventListener('DOMContentLoaded', function () {
    var modelerCanvas = document.getElementById('modeler-canvas');
    var diffCanvas = document.getElementById('diff-canvas');
    if (modelerCanvas) {
      startModeler(modelerCanvas, pageData());
    } else if (diffCanvas) {
      startDiff(diffCanvas, pageData());
    }
  });
})();
