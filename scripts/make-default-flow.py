# Generates flows/carnitrack-default.json (the default flow, laid out in groups):
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
n('c_scales','comment',200,80,[],name="1 · Scales: TCP ${TCP_PORT} (3001)",info="Each DP-401's WiFi module is a TCP client: point it at this gateway's address and port, Register Package SCALE-XX on link, heartbeat HB every 30 s.\n\nOK goes back to a scale only after event-store has committed the weighing (the wire from event-store's 'stored' output back to dp401-in).")
n('scales','dp401-in',200,140,[['cache','fmt'],['devsw']],name="DP-401 scales",port="${TCP_PORT}",bindAddress="0.0.0.0",allowedSources="",maxConnections="${DP401_MAX_CONNECTIONS}",maxLineBytes=4096,encoding="windows-1254",weightUnit="1",maxCapacityKg=100,timeZone="",duplicateWindowS=5,staleAfterS=45,timeoutAfterS=90,idleAfterS=300,addressMap="",ackMode="store")
n('devsw','switch',200,200,[['link']],name="device messages",property="topic",propertyType="msg",rules=[{"t":"regex","v":"^(device_connected|device_disconnected|device_heartbeat)$","vt":"str","case":False}],checkall="true",repair=False,outputs=1)
# 2 tagging & storage
n('c_store','comment',600,80,[],name="2 · Tag with the session, store durably",info="session-cache tags each weighing with the scale's session (or an offline batch); event-store commits it to SQLite (synchronous=FULL) and is the only queue to the Cloud.")
n('cache','session-cache',510,140,[['store']],name="sessions & batches",site=site,expiryHours=12)
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
n('c_watch','comment',300,290,[],name="Watch: live weights, errors, status",info="'live weights' shows tagged weighings (at most 20 a second, the rest dropped) as: scale · product · kg · animal tag. Errors of every node arrive at the Catch node; status changes at the Status node.")
n('fmt','change',380,410,[['weights']],name="readable weight",rules=[{"t":"set","p":"payload","pt":"msg","to":"payload.deviceId & \" · \" & payload.productName & \" · \" & $formatNumber(payload.weightGrams / 1000, \"0.000\") & \" kg\" & (payload.animalTag ? \" · \" & payload.animalTag : \"\") & (payload.offlineBatchId ? \" · offline batch\" : \"\")","tot":"jsonata"}],action="",property="",to="",reg=False,**{"from":""})
n('weights','debug',580,410,[],name="live weights",active=True,tosidebar=True,console=False,tostatus=False,complete="payload",targetType="msg",statusVal="",statusType="auto")
n('catch','catch',180,470,[['errors']],name="all errors",scope=None,uncaught=False)
n('errors','debug',380,470,[],name="errors",active=True,tosidebar=True,console=True,tostatus=False,complete="true",targetType="full",statusVal="",statusType="auto")
n('status','status',180,530,[['statusdbg']],name="node status",scope=None)
n('statusdbg','debug',380,530,[],name="status changes",active=False,tosidebar=True,console=False,tostatus=False,complete="status",targetType="msg",statusVal="",statusType="auto")
# fix: cache output goes to store only; the readable weight taps session-cache's tagged events
for d in nodes:
    if d['id']==i('scales'): d['wires']=[[i('cache')],[i('devsw')]]
    if d['id']==i('cache'): d['wires']=[[i('store'),i('livelimit')]]
# Live weights are a bounded view: at most 20 a second reach the formatting and the sidebar, the
# rest are dropped here (never queued), so a busy plant cannot fill memory through the debug tab.
n('livelimit','delay',180,350,[['fmtsw']],name="at most 20/s",pauseType="rate",timeout="5",timeoutUnits="seconds",rate="20",nbRateUnits="1",rateUnits="second",randomFirst="1",randomLast="5",randomUnits="seconds",drop=True,allowrate=False,outputs=1)
n('fmtsw','switch',180,410,[['fmt']],name="weighings",property="topic",propertyType="msg",rules=[{"t":"eq","v":"event","vt":"str"}],checkall="true",repair=False,outputs=1)
g('g1','Scales',['c_scales','scales','devsw'],34,39,492,194,"#f5e0d8")
g('g2','Tagging & storage',['c_store','cache','store','storestatus'],324,39,0,0,"#fbeee6")
g('g3','Cloud',['c_cloud','link','cloudsw','other'],784,39,0,0,"#e8eef8")
g('g4','PLU',['c_plu','plu','pluinfo'],1214,219,0,0,"#eef5e6")
g('g5','Watch',['c_watch','livelimit','fmtsw','fmt','weights','catch','errors','status','statusdbg'],34,259,0,0,"#f0f0f0")
# groups: nodes must carry g; recompute boxes roughly from member positions
byid={d['id']:d for d in nodes}
for grp in [d for d in nodes if d['type']=='group']:
    def half(d):
        label=d.get('name') or d['type']
        return max(60, len(label)*7.2/2+40)
    left=min(byid[m]['x']-half(byid[m]) for m in grp['nodes']); right=max(byid[m]['x']+half(byid[m]) for m in grp['nodes'])
    ys=[byid[m]['y'] for m in grp['nodes']]
    for m in grp['nodes']: byid[m]['g']=grp['id']
    grp['x']=int(left-20); grp['y']=min(ys)-45; grp['w']=int(right-left+40); grp['h']=max(ys)-min(ys)+75
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'flows', 'carnitrack-default.json')
json.dump(nodes, open(out, 'w'), indent=4, ensure_ascii=False)
print(f'{len(nodes)} nodes written to {os.path.normpath(out)}')
