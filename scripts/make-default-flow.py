# Generates flows/carnitrack-default.json (the default flow, laid out in groups), the dashboard
# example (the same flow plus a FlowFuse Dashboard 2 page) and the small examples:
#   python3 scripts/make-default-flow.py
# Edit the layout here, or edit the flow in the editor and export it over the file.
import json
import os
T='ca00000000000001'
ids={}
def i(name):
    if name not in ids: ids[name]='ca%014x'%(len(ids)+2)
    return ids[name]
site=i('site')
nodes=[]
nodes.append({"id":T,"type":"tab","label":"CarniTrack Edge","disabled":False,"info":"The default CarniTrack Edge flow: DP-401 scales -> session tagging -> durable store -> Cloud.\n\nEvery setting that differs per plant comes from the environment: EDGE_SITE_ID, EDGE_SITE_NAME, DATABASE_PATH, TCP_PORT, CLOUD_WS_URL, CLOUD_API_KEY, PLU_OUTPUT_DIR. The same flow deploys to every plant.","env":[]})
nodes.append({"id":site,"type":"carnitrack-site","name":"plant site","siteId":"${EDGE_SITE_ID}","siteName":"${EDGE_SITE_NAME}","databasePath":"${DATABASE_PATH}","durability":"full"})
def g(key,name,members,x,y,w,h,color):
    nodes.append({"id":i(key),"type":"group","z":T,"name":name,"style":{"fill":color,"fill-opacity":"0.35","label":True,"color":"#000000"},"nodes":[i(m) for m in members],"x":x,"y":y,"w":w,"h":h})
def n(key,typ,x,y,wires=None,**kw):
    d={"id":i(key),"type":typ,"z":T}
    d.update(kw)
    d["x"]=x; d["y"]=y
    if wires is not None: d["wires"]=[[i(w) for w in out] for out in wires]
    nodes.append(d)
    return d
# 1 scales
n('c_scales','comment',200,80,[],name="1 · Scales: TCP port $TCP_PORT (default 3001)",info="Each DP-401's WiFi module is a TCP client: point it at this gateway's address and port, Register Package SCALE-XX on link, heartbeat HB every 30 s.\n\nOK goes back to a scale only after event-store has committed the weighing (the wire from event-store's 'stored' output back to dp401-in).")
n('scales','dp401-in',200,140,[['cache','fmt'],['devsw']],name="DP-401 scales",port="${TCP_PORT}",bindAddress="0.0.0.0",allowedSources="",maxConnections="${DP401_MAX_CONNECTIONS}",maxLineBytes=4096,encoding="windows-1254",weightUnit="1",maxCapacityKg=100,timeZone="",duplicateWindowS=5,staleAfterS=45,timeoutAfterS=90,idleAfterS=300,missingAfterMin=2,addressMap="",ackMode="store")
n('devsw','switch',200,200,[['link']],name="device messages",property="topic",propertyType="msg",rules=[{"t":"regex","v":"^(device_connected|device_disconnected|device_heartbeat)$","vt":"str","case":False}],checkall="true",repair=False,outputs=1)
# 2 tagging & storage
n('c_store','comment',600,80,[],name="2 · Tag with the session, store durably",info="session-cache tags each weighing with the scale's session (or an offline batch); event-store commits it to SQLite (synchronous=FULL) and is the only queue to the Cloud.")
n('cache','session-cache',510,140,[['store']],name="sessions & batches",site=site,expiryHours=12,liveRate=20)
n('store','event-store',710,140,[['link'],['scales'],['storestatus']],name="event store (SQLite)",site=site,batchSize=100,window=1000,ackTimeoutS=30,retentionDays=30,minFreeDiskMB=500,maxPendingAgeMin=60,statusIntervalS=10)
n('storestatus','debug',710,200,[],name="store figures",active=False,tosidebar=True,console=False,tostatus=False,complete="payload",targetType="msg",statusVal="",statusType="auto")
# 3 cloud
n('c_cloud','comment',1070,80,[],name="3 · CarniTrack Cloud (${CLOUD_WS_URL})",info="cloud-link keeps the WebSocket link; its API key is a credential (or CLOUD_API_KEY). The Cloud's answers are routed back: sessions to session-cache, acks to event-store, PLU items to plu-out, cloud_status to both.")
# Acks take output 3 straight to event-store, grouped (one message per batch answered): the
# switch only sees the few session, PLU and other messages.
n('link','cloud-link',970,140,[['cloudsw'],['cache','store'],['store']],name="CarniTrack Cloud",site=site,url="${CLOUD_WS_URL}",tls="",keepAliveS=30,pongTimeoutS=10,minBackoffS=1,maxBackoffS=60,handshakeTimeoutS=10,maxFrameKB=1024,ackOutput="grouped")
n('cloudsw','switch',1180,140,[['cache'],['plu'],['other']],name="route Cloud messages",property="topic",propertyType="msg",rules=[{"t":"regex","v":"^session_","vt":"str","case":False},{"t":"regex","v":"^plu_","vt":"str","case":False},{"t":"else"}],checkall="false",repair=False,outputs=3)
n('other','debug',1180,200,[],name="other Cloud messages",active=False,tosidebar=True,console=False,tostatus=False,complete="true",targetType="full",statusVal="",statusType="auto")
# 4 plu
n('c_plu','comment',1070,290,[],name="4 · PLU file for the scales",info="plu-out writes plu.txt (Windows-1254, the scale's fixed-width format) into ${PLU_OUTPUT_DIR} (default ./generated in the user directory). Wire its output to a file, FTP or TCP node for the scale's loader.")
n('plu','plu-out',990,350,[['pluinfo']],name="PLU file",site=site,outputDir="${PLU_OUTPUT_DIR}",filename="plu.txt",encoding="windows-1254",truncateNames=False,template="",debounceS=2)
n('pluinfo','debug',1180,350,[],name="PLU file written",active=True,tosidebar=True,console=False,tostatus=True,complete="filename",targetType="msg",statusVal="count",statusType="msg")
# watch
n('c_watch','comment',300,290,[],name="Watch: live weights, errors, status",info="'live weights' shows tagged weighings from session-cache's live output (at most 20 a second, its Live view setting; the others are not sent there) as: scale · product · kg · animal tag. Errors of every node arrive at the Catch node; status changes at the Status node.")
n('fmt','change',180,350,[['weights']],name="readable weight",rules=[{"t":"set","p":"payload","pt":"msg","to":"payload.deviceId & \" · \" & payload.productName & \" · \" & $formatNumber(payload.weightGrams / 1000, \"0.000\") & \" kg\" & (payload.animalTag ? \" · \" & payload.animalTag : \"\") & (payload.offlineBatchId ? \" · offline batch\" : \"\")","tot":"jsonata"}],action="",property="",to="",reg=False,**{"from":""})
n('weights','debug',380,350,[],name="live weights",active=True,tosidebar=True,console=False,tostatus=False,complete="payload",targetType="msg",statusVal="",statusType="auto")
n('catch','catch',180,410,[['errors']],name="all errors",scope=None,uncaught=False)
# Not to the console too: Node-RED's log already has each error on one line, and the debug
# node would print the whole message object there over many lines.
n('errors','debug',380,410,[],name="errors",active=True,tosidebar=True,console=False,tostatus=False,complete="true",targetType="full",statusVal="",statusType="auto")
n('status','status',180,470,[['statusdbg']],name="node status",scope=None)
n('statusdbg','debug',380,470,[],name="status changes",active=False,tosidebar=True,console=False,tostatus=False,complete="status",targetType="msg",statusVal="",statusType="auto")
# fix: cache output 1 goes to the store; its live output (a sample, at most 20 a second, never
# a queue: nothing on the weighing path is cloned or delayed for it) to the readable weight
for d in nodes:
    if d['id']==i('scales'): d['wires']=[[i('cache')],[i('devsw')]]
    if d['id']==i('cache'): d['wires']=[[i('store')],[i('fmt')]]
# Ids of nodes an earlier default flow had (a delay and a switch on the live branch): kept
# reserved so that the ids after them, which the small examples link to, stay the same.
i('livelimit'); i('fmtsw')
# Entry points for the small examples (backup, retry-failed, plu-update): their link out
# nodes point at these ids, so they work once imported next to this flow.
n('to_store','link in',510,200,[['store']],name="to event store",links=[])
n('to_plu','link in',880,350,[['plu']],name="to PLU file",links=[])
# The layout, in one place. Rule: no wire may cross a node's status (scripts/screenshot-flow.js
# and test/e2e/editor.test.ts check it in Chromium, with every status at its longest). Node-RED
# draws a wire back to a node on its left as a loop that runs just under the row when both ends
# are on one row, through the statuses there. So the flow is a staircase: the scales bottom left,
# tagging and storage in the middle, the Cloud top right. Every wire back (event-store's stored
# output to dp401-in; the Cloud's statuses, acks and sessions to session-cache and event-store)
# runs down and to the left, steeply enough to pass below the status of the node it leaves and
# to reach the node it enters from above.
LAYOUT={
    # Watch, top left
    'c_watch':(240,80),'catch':(140,140),'errors':(340,140),'status':(140,200),'statusdbg':(360,200),'fmt':(140,260),'weights':(360,260),
    # 3 Cloud, top right
    'c_cloud':(1160,80),'link':(1080,140),'cloudsw':(1340,140),'other':(1580,200),
    # 2 tagging & storage, middle
    'c_store':(210,420),'cache':(540,420),'store':(820,420),'to_store':(680,480),'storestatus':(1060,480),
    # 1 scales, bottom left; their device messages go up to the Cloud
    'c_scales':(300,720),'scales':(220,660),'devsw':(1200,660),
    # 4 PLU, bottom right
    'c_plu':(1600,600),'to_plu':(1400,720),'plu':(1520,660),'pluinfo':(1720,660),
}
for d in nodes:
    for k,(x,y) in LAYOUT.items():
        if d['id']==i(k): d['x']=x; d['y']=y
g('g1','Scales',['c_scales','scales','devsw'],0,0,0,0,"#f5e0d8")
g('g2','Tagging & storage',['c_store','cache','store','storestatus','to_store'],0,0,0,0,"#fbeee6")
g('g3','Cloud',['c_cloud','link','cloudsw','other'],0,0,0,0,"#e8eef8")
g('g4','PLU',['c_plu','to_plu','plu','pluinfo'],0,0,0,0,"#eef5e6")
g('g5','Watch',['c_watch','fmt','weights','catch','errors','status','statusdbg'],0,0,0,0,"#f0f0f0")
# Each group's box around its members as the editor draws them: a node is as wide as its label
# (about 7.6 px a character and 50 px of icon and padding, in steps of 20, at least 100); a link
# node 30; a node with a status has it below, up to 24 characters (about 140 px).
def box(d):
    if d['type'] in ('link in','link out'): return d['x']-15,d['y']-15,d['x']+15,d['y']+15
    label=d.get('name') or d['type']
    w=max(100, -(-(len(label)*7.6+50)//20)*20)
    h=max(30, 15*len(d.get('wires',[])))
    l,t,r,b=d['x']-w/2,d['y']-h/2,d['x']+w/2,d['y']+h/2
    if d['type'] in ('dp401-in','session-cache','event-store','cloud-link','plu-out') or (d['type']=='debug' and d.get('tostatus')):
        r=max(r,l+3+150); b=b+17
    return l,t,r,b
def fit(grp, members):
    for d in members: d['g']=grp['id']
    bs=[box(d) for d in members]
    grp['x']=int(min(b[0] for b in bs)-15); grp['y']=int(min(b[1] for b in bs)-35)
    grp['w']=int(max(b[2] for b in bs)+15-grp['x']); grp['h']=int(max(b[3] for b in bs)+15-grp['y'])
byid={d['id']:d for d in nodes}
for grp in [d for d in nodes if d['type']=='group']:
    fit(grp, [byid[m] for m in grp['nodes']])
here = os.path.dirname(os.path.abspath(__file__))
def write(name, flow):
    out = os.path.join(here, '..', 'flows', name)
    with open(out, 'w') as f:
        json.dump(flow, f, indent=4, ensure_ascii=False)
        f.write('\n')
    print(f'{len(flow)} nodes written to {os.path.normpath(out)}')
write('carnitrack-default.json', nodes)
default_nodes = json.loads(json.dumps(nodes))

# --- The dashboard example: the default flow plus a FlowFuse Dashboard 2 page (own ids). ---
# Needs @flowfuse/node-red-dashboard (Manage palette). Import it instead of the default flow.
D='cd00000000000001'
dids={}
def di(name):
    if name not in dids: dids[name]='cd%014x'%(len(dids)+2)
    return dids[name]
remap={T:D, **{v:di('d_'+k) for k,v in ids.items()}}
dash=[]
for d in default_nodes:
    d=json.loads(json.dumps(d))
    d['id']=remap[d['id']]
    for key in ('z','g','site'):
        if key in d and d[key] in remap: d[key]=remap[d[key]]
    if 'nodes' in d: d['nodes']=[remap[m] for m in d['nodes']]
    if 'wires' in d: d['wires']=[[remap[w] for w in out] for out in d['wires']]
    dash.append(d)
dash[0]['label']='CarniTrack Edge + dashboard'
dash[0]['info']+="\n\nThe Dashboard group feeds a FlowFuse Dashboard 2 page at /dashboard: the latest weight of each scale, a chart of the last 10 minutes (at most 500 points) and the Cloud backlog."
byd={d['id']:d for d in dash}
CONFIG=('ui-base','ui-theme','ui-page','ui-group')
def dn(key,typ,x,y,wires=None,**kw):
    d={"id":di(key),"type":typ}
    if typ not in CONFIG: d["z"]=D
    d.update(kw)
    if typ not in CONFIG:
        d["x"]=x; d["y"]=y
        d["wires"]=[[di(w) for w in out] for out in (wires or [])]
    dash.append(d)
    return d
LATEST = """// One row per scale, the latest weighing; bounded (at most 100 scales).
const rows = context.get('rows') || {};
const e = msg.payload;
rows[e.deviceId] = {
    scale: e.deviceId,
    product: e.productName,
    kg: (e.weightGrams / 1000).toFixed(3),
    animal: e.animalTag || (e.offlineBatchId ? 'offline batch' : ''),
    time: String(e.scaleTimestamp || '').slice(11, 19)
};
const ids = Object.keys(rows).sort();
while (ids.length > 100) delete rows[ids.shift()];
context.set('rows', rows);
msg.payload = ids.map((id) => rows[id]);
return msg;"""
dn('ui_base','ui-base',0,0,name="CarniTrack",path="/dashboard",appIcon="",includeClientData=True,acceptsClientConfig=["ui-notification","ui-control"],showPathInSidebar=False,headerContent="page",navigationStyle="default",titleBarStyle="default",showReconnectNotification=True,notificationDisplayTime=1,showDisconnectNotification=True,allowInstall=False)
dn('ui_theme','ui-theme',0,0,name="CarniTrack",colors={"surface":"#7a3b2e","primary":"#b5523b","bgPage":"#f7f1ee","groupBg":"#ffffff","groupOutline":"#e3d3cc"},sizes={"density":"default","pagePadding":"12px","groupGap":"12px","groupBorderRadius":"4px","widgetGap":"12px"})
dn('ui_page','ui-page',0,0,name="Plant floor",ui=di('ui_base'),path="/",icon="scale-balance",layout="grid",theme=di('ui_theme'),breakpoints=[{"name":"Default","px":0,"cols":3},{"name":"Tablet","px":576,"cols":6},{"name":"Small Desktop","px":768,"cols":9},{"name":"Desktop","px":1024,"cols":12}],order=1,className="",visible="true",disabled="false")
dn('grp_scales','ui-group',0,0,name="Live weights",page=di('ui_page'),width=6,height=1,order=1,showTitle=True,className="",visible="true",disabled="false",groupType="default")
dn('grp_cloud','ui-group',0,0,name="Cloud backlog",page=di('ui_page'),width=6,height=1,order=2,showTitle=True,className="",visible="true",disabled="false",groupType="default")
dn('c_dash','comment',960,820,[],name="Dashboard: /dashboard (needs @flowfuse/node-red-dashboard)",info="Weighings come from session-cache's live output (at most 20 a second), store figures from event-store's third output every 10 s. Nothing here grows with load: the table keeps one row per scale (at most 100), the chart drops points older than 10 minutes and keeps at most 500.")
dn('latest','function',760,880,[['table']],name="latest per scale",func=LATEST,outputs=1,timeout=0,noerr=0,initialize="",finalize="",libs=[])
dn('table','ui-table',980,880,None,group=di('grp_scales'),name="scales",label="Scales",order=1,width=6,height=0,maxrows=0,passthru=False,autocols=True,showSearch=False,deselect=True,selectionType="none",columns=[],mobileBreakpoint="sm",mobileBreakpointType="defaults",action="replace",className="")
dn('point','change',760,940,[['chart']],name="kg per scale",rules=[{"t":"set","p":"topic","pt":"msg","to":"payload.deviceId","tot":"msg"},{"t":"set","p":"payload","pt":"msg","to":"payload.weightGrams / 1000","tot":"jsonata"}],action="",property="",to="",reg=False,**{"from":""})
dn('chart','ui-chart',980,940,None,group=di('grp_scales'),name="weights",label="Weights (kg, last 10 min)",order=2,chartType="scatter",category="topic",categoryType="msg",xAxisLabel="",xAxisProperty="",xAxisPropertyType="timestamp",xAxisType="time",xAxisFormat="",xAxisFormatType="auto",xmin="",xmax="",yAxisLabel="kg",yAxisProperty="payload",yAxisPropertyType="msg",ymin="",ymax="",bins=10,action="append",stackSeries=False,pointShape="circle",pointRadius=4,showLegend=True,removeOlder=10,removeOlderUnit="60",removeOlderPoints="500",colors=["#b5523b","#0095FF","#2CA02C","#FF7F0E","#A347E1","#D62728","#9467BD","#8C564B","#17BECF"],textColor=["#666666"],textColorDefault=True,gridColor=["#e5e5e5"],gridColorDefault=True,width=6,height=6,className="",interpolation="linear")
dn('figsw','switch',760,1000,[['backlog','oldestage']],name="store figures",property="topic",propertyType="msg",rules=[{"t":"eq","v":"store_status","vt":"str"}],checkall="true",repair=False,outputs=1)
dn('backlog','ui-text',980,1000,None,group=di('grp_cloud'),order=1,width=6,height=1,name="backlog",label="Events waiting for the Cloud",format="",layout="row-spread",style=False,font="",fontSize=16,color="#717171",wrapText=False,className="",value="payload.pending",valueType="msg")
dn('oldestage','change',1000,1060,[['oldest']],name="oldest age (0 when none)",rules=[{"t":"set","p":"payload","pt":"msg","to":"payload.oldestPendingAgeS ? payload.oldestPendingAgeS : 0","tot":"jsonata"}],action="",property="",to="",reg=False,**{"from":""})
dn('oldest','ui-text',1220,1060,None,group=di('grp_cloud'),order=2,width=6,height=1,name="oldest",label="Oldest unsent (s)",format="",layout="row-spread",style=False,font="",fontSize=16,color="#717171",wrapText=False,className="",value="payload",valueType="msg")
# Wire the dashboard in: session-cache's live output and event-store's status output.
byd[remap[i('cache')]]['wires'][1] += [di('latest'), di('point')]
byd[remap[i('store')]]['wires'][2].append(di('figsw'))
members=('c_dash','latest','table','point','chart','figsw','backlog','oldestage','oldest')
# Below the default flow's staircase, fed by wires that leave session-cache and event-store downwards.
gd={"id":di('g_dash'),"type":"group","z":D,"name":"Dashboard","style":{"fill":"#f7e8f0","fill-opacity":"0.35","label":True,"color":"#000000"},"nodes":[di(k) for k in members]}
fit(gd,[d for d in dash if d['id'] in gd['nodes']])
dash.append(gd)
write('carnitrack-dashboard.json', dash)

# --- Small examples, imported next to the default flow (no tab of their own). ---
def small(name, prefix, items):
    flow=[]
    nid=lambda k: '%s%013x'%(prefix,k)
    for k,(typ,x,y,wires,kw) in enumerate(items):
        d={"id":nid(k+1),"type":typ,"x":x,"y":y}
        d.update(kw)
        if wires is not None: d["wires"]=[[nid(w) for w in out] for out in wires]
        flow.append(d)
    write(name, flow)
# A scale on its own: no site, no Cloud; OK on receipt. Port 3002 so it runs beside the default flow.
small('standalone-scale.json','ce1',[
    ('comment',160,60,[],dict(name="One DP-401 on port 3002, nothing stored",info="A scale on its own: dp401-in answers OK on receipt (nothing is stored, no Cloud), for a test bench or a scale that only shows weights. Point the scale at this gateway, port 3002.")),
    ('dp401-in',160,120,[[3],[4]],dict(name="test scale",port="3002",bindAddress="0.0.0.0",allowedSources="",maxConnections=4,maxLineBytes=4096,encoding="windows-1254",weightUnit="1",maxCapacityKg=100,timeZone="",duplicateWindowS=5,staleAfterS=45,timeoutAfterS=90,idleAfterS=300,missingAfterMin=2,addressMap="",ackMode="receipt")),
    ('change',380,100,[[5]],dict(name="kg",rules=[{"t":"set","p":"payload","pt":"msg","to":"payload.deviceId & \" · \" & payload.productName & \" · \" & $formatNumber(payload.weightGrams / 1000, \"0.000\") & \" kg\"","tot":"jsonata"}],action="",property="",to="",reg=False,**{"from":""})),
    ('debug',380,160,[],dict(name="scale connects and heartbeats",active=False,tosidebar=True,console=False,tostatus=False,complete="true",targetType="full",statusVal="",statusType="auto")),
    ('debug',580,100,[],dict(name="test scale weights",active=True,tosidebar=True,console=False,tostatus=False,complete="payload",targetType="msg",statusVal="",statusType="auto")),
])
small('plu-update.json','ce2',[
    ('comment',170,60,[],dict(name="Add or change a PLU by hand (needs the default flow)",info="Sends one plu_updated message to the default flow's 'to PLU file' link: plu-out stores it in the catalogue and rewrites plu.txt. Edit the inject's JSON for your product.")),
    ('inject',170,120,[[3]],dict(name="PLU 42: KUZU KOL",props=[{"p":"topic","vt":"str"},{"p":"payload"}],repeat="",crontab="",once=False,onceDelay=0.1,topic="plu_updated",payload="{\"pluCode\":\"42\",\"name\":\"KUZU KOL\",\"price\":54990,\"department\":3,\"barcode\":\"2000042\",\"tareGrams\":0}",payloadType="json")),
    ('link out',370,120,None,dict(name="to PLU file",mode="link",links=[i('to_plu')])),
])
small('backup.json','ce3',[
    ('comment',170,60,[],dict(name="Back up the site database every night (needs the default flow)",info="At 02:30 every night event-store makes an online backup (SQLite's backup API, so scales keep weighing) to backups/carnitrack-<date>.db in the Node-RED user directory. backup_done comes out of event-store's third output.")),
    ('inject',170,120,[[3]],dict(name="02:30 nightly",props=[{"p":"topic","vt":"str"}],repeat="",crontab="30 02 * * *",once=False,onceDelay=0.1,topic="backup",payload="",payloadType="date")),
    ('change',370,120,[[4]],dict(name="dated file",rules=[{"t":"set","p":"payload","pt":"msg","to":"'backups/carnitrack-' & $substring($now(), 0, 10) & '.db'","tot":"jsonata"}],action="",property="",to="",reg=False,**{"from":""})),
    ('link out',550,120,None,dict(name="to event store",mode="link",links=[i('to_store')])),
])
small('retry-failed.json','ce4',[
    ('comment',170,60,[],dict(name="Send rejected events again (needs the default flow)",info="After fixing what the Cloud rejected (the CarniTrack tab lists the reasons), click the inject's button: event-store queues every rejected event again. The tab's 'Send again' button does the same.")),
    ('inject',170,120,[[3]],dict(name="retry rejected events",props=[{"p":"topic","vt":"str"}],repeat="",crontab="",once=False,onceDelay=0.1,topic="retry_failed",payload="",payloadType="date")),
    ('link out',370,120,None,dict(name="to event store",mode="link",links=[i('to_store')])),
])
